// The node agent's configuration (config-layers.ts: defaults → file → SHADOWFLOW_* environment → flags): its keys
// and the checks across them. Policy and inventory are data (-f, reloaded), not config.
import { hostname } from 'node:os'
import { loadConfig, redactConfig as redactWith, type ConfigField, type ConfigSchema, type ConfigSources } from './config-layers.js'

export { checkHostPort, envName, splitHostPort } from './config-layers.js'

/** The agent's settings (see CONFIG_FIELDS for flags, variables and defaults). */
export interface AgentConfig {
  readonly nodeName: string
  readonly source: string
  readonly filenames: readonly string[]
  readonly stagedMode: 'calico' | 'replace'
  readonly localEndpoints: 'node' | 'all'
  readonly captureClock: 'capture' | 'now'
  readonly sourceFallback: 'none' | 'pcap'
  readonly sourceAttach: 'auto' | 'tcx' | 'clsact'
  readonly sourceFilter: string
  readonly flowIdleTimeoutSeconds: number
  readonly flowActiveTimeoutSeconds: number
  readonly flowTableSize: number
  readonly aggregator: string
  readonly queryListen: string
  readonly queryAdvertise: string
  readonly debugAddr: string
  readonly intervalSeconds: number
  readonly exportBufferBytes: number
  readonly exportBufferAgeSeconds: number
  readonly flushDeadlineSeconds: number
  readonly tlsCert: string
  readonly tlsKey: string
  readonly tlsCa: string
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly maxTrackedFlows: number
  readonly recentFlows: number
  readonly watchFiles: boolean
  readonly watchPollSeconds: number
  readonly kubernetes: boolean
  readonly kubeconfig: string
}

const MIB = 1024 * 1024

/** Every configuration key, in the order `--help` and the README list them. */
export const CONFIG_FIELDS: ReadonlyArray<ConfigField<AgentConfig>> = Object.freeze([
  { key: 'nodeName', flag: 'node-name', kind: { type: 'string' }, default: () => hostname(), help: 'this node\'s name: pods with this spec.nodeName and host endpoints with this spec.node report flows' },
  { key: 'source', flag: 'source', kind: { type: 'string', required: true }, default: () => '', help: 'tap source: pcap:IFACE[,…] (globs: pcap:cali*), pcap-file:PATH, synthetic:FLOWS,RATE' },
  { key: 'filenames', flag: 'filename', short: 'f', kind: { type: 'list', required: true }, default: () => [], help: 'policy and inventory files or directories (watched; repeatable; comma-separated in the file and env)' },
  { key: 'stagedMode', flag: 'staged-mode', kind: { type: 'enum', values: ['calico', 'replace'] }, default: () => 'calico', help: 'calico: staged policies are added to the pending set; replace: Set replaces and Delete removes the enforced policy' },
  { key: 'sourceFallback', flag: 'source-fallback', kind: { type: 'enum', values: ['none', 'pcap'] }, default: () => 'none', help: 'ebpf: only: pcap falls back to libpcap capture on the same interfaces when the kernel or the privileges refuse eBPF (the reason is logged); none fails' },
  { key: 'sourceAttach', flag: 'source-attach', kind: { type: 'enum', values: ['auto', 'tcx', 'clsact'] }, default: () => 'auto', help: 'ebpf: only: how the program is attached: tcx links (Linux 6.6+), clsact filters, or auto (tcx when the kernel has it, else clsact)' },
  { key: 'sourceFilter', flag: 'source-filter', kind: { type: 'string' }, default: () => '', help: 'pcap: only: BPF capture filter in tcpdump syntax (empty: every packet)' },
  { key: 'flowIdleTimeoutSeconds', flag: 'flow-idle-timeout', kind: { type: 'int', min: 1, max: 86400 }, default: () => 60, help: 'tap flow table (pcap, pcap-file, ebpf): a flow without packets this long has ended' },
  { key: 'flowActiveTimeoutSeconds', flag: 'flow-active-timeout', kind: { type: 'int', min: 0, max: 86400 }, default: () => 15, help: 'tap flow table: a long-lived flow reports its counters this often (0: only when it ends)' },
  { key: 'flowTableSize', flag: 'flow-table-size', kind: { type: 'int', min: 1, max: 1 << 26 }, default: () => 262144, help: 'tap flow table: bound on flows tracked at once; the least recently used one is evicted (counted)' },
  { key: 'captureClock', flag: 'capture-clock', kind: { type: 'enum', values: ['capture', 'now'] }, default: () => 'capture', help: 'pcap-file: capture keeps the capture\'s timestamps as the flow clock; now shifts them so the first packet happens now' },
  { key: 'localEndpoints', flag: 'local-endpoints', kind: { type: 'enum', values: ['node', 'all'] }, default: () => 'node', help: 'node: report flows of this node\'s endpoints; all: treat every endpoint as local (replays, tests)' },
  { key: 'aggregator', flag: 'aggregator', kind: { type: 'address', allowEmpty: true }, default: () => '', help: 'aggregator host:port to stream flow logs to (empty: no export)' },
  { key: 'queryListen', flag: 'query-listen', kind: { type: 'address', allowEmpty: true }, default: () => '127.0.0.1:9098', help: 'listen address of the node query service shadowflow.v1.NodeFlows (empty: off)' },
  { key: 'queryAdvertise', flag: 'query-advertise', kind: { type: 'address', allowEmpty: true }, default: () => '', help: 'address the aggregator reaches the query service at (default: the listen address with its bound port)' },
  { key: 'debugAddr', flag: 'debug-addr', kind: { type: 'address', allowEmpty: true }, default: () => '127.0.0.1:9099', help: 'listen address of the debug HTTP server (/healthz, /readyz, /metrics, /debug/…; empty: off)' },
  { key: 'intervalSeconds', flag: 'interval', kind: { type: 'int', min: 15, max: 3600, multipleOf: 15 }, default: () => 15, help: 'flow-log aggregation interval in seconds (a multiple of 15)' },
  { key: 'exportBufferBytes', flag: 'export-buffer-bytes', kind: { type: 'int', min: 64 * 1024, max: 4096 * MIB }, default: () => 64 * MIB, help: 'bound of the export buffer (unacknowledged and recently acknowledged flow logs); overflow drops the oldest' },
  { key: 'exportBufferAgeSeconds', flag: 'export-buffer-age', kind: { type: 'int', min: 15, max: 86400 }, default: () => 600, help: 'flow logs older than this leave the export buffer (unacknowledged ones are counted as dropped)' },
  { key: 'flushDeadlineSeconds', flag: 'flush-deadline', kind: { type: 'int', min: 0, max: 3600 }, default: () => 10, help: 'on SIGTERM, how long to wait for the aggregator\'s receipts before exiting' },
  { key: 'tlsCert', flag: 'tls-cert', kind: { type: 'string' }, default: () => '', help: 'PEM certificate of this agent (query service; client certificate towards the aggregator)' },
  { key: 'tlsKey', flag: 'tls-key', kind: { type: 'string' }, default: () => '', help: 'PEM private key of --tls-cert', secret: true },
  { key: 'tlsCa', flag: 'tls-ca', kind: { type: 'string' }, default: () => '', help: 'PEM CA bundle: verifies the aggregator, and requires client certificates on the query service (mutual TLS)' },
  { key: 'logLevel', flag: 'log-level', kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, default: () => 'info', help: 'log level (JSON logs on stderr)' },
  { key: 'maxTrackedFlows', flag: 'max-tracked-flows', kind: { type: 'int', min: 1, max: 1 << 26 }, default: () => 262144, help: 'bound of per-flow last-seen counters (evictions counted)' },
  { key: 'recentFlows', flag: 'recent-flows', kind: { type: 'int', min: 0, max: 1 << 22 }, default: () => 4096, help: 'capacity of each recent-flows ring of the query service (raw flows, flow logs)' },
  { key: 'watchFiles', flag: 'watch', kind: { type: 'bool' }, default: () => true, help: 'reload -f files when they change (fs.watch and a periodic check)' },
  { key: 'watchPollSeconds', flag: 'watch-poll', kind: { type: 'int', min: 1, max: 3600 }, default: () => 5, help: 'period of the file check that backs up fs.watch, in seconds' },
  { key: 'kubernetes', flag: 'kubernetes', kind: { type: 'bool' }, default: () => false, help: 'read policy and inventory from the Kubernetes API (watched) instead of -f files' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: { type: 'string' }, default: () => '', help: 'kubeconfig file for --kubernetes (empty: the in-cluster service account)' }
] satisfies Array<ConfigField<AgentConfig>>)

const AGENT_SCHEMA: ConfigSchema<AgentConfig> = {
  fields: CONFIG_FIELDS,
  // --kubernetes replaces -f: policy and inventory come from the API.
  requiredWaived: (key, values) => key === 'filenames' && values.get('kubernetes') === true,
  crossCheck (values, problems) {
    const kubernetes = values.get('kubernetes') === true
    if ((values.get('tlsCert') === '') !== (values.get('tlsKey') === '')) problems.push('tlsCert and tlsKey: give both or neither')
    if (kubernetes && (values.get('filenames') as readonly string[]).length > 0) problems.push('filenames and kubernetes: policy comes from -f files or from the Kubernetes API, give one of them')
    if (!kubernetes && values.get('kubeconfig') !== '') problems.push('kubeconfig: only used with --kubernetes')
    const source = values.get('source') as string
    if (values.get('sourceFilter') !== '' && !source.startsWith('pcap:')) problems.push(`sourceFilter: only pcap: sources take a capture filter, not '${source}'`)
  }
}

/** The agent's configuration from its layers; throws one ConfigInvalidError listing every problem. */
export async function loadAgentConfig (sources: ConfigSources<AgentConfig> = {}): Promise<AgentConfig> {
  return await loadConfig(AGENT_SCHEMA, sources)
}

/** The configuration as /debug/config shows it: secrets replaced by `(set)`. */
export function redactConfig (config: AgentConfig): Record<string, unknown> {
  return redactWith(AGENT_SCHEMA, config)
}
