// The node agent's configuration: defaults → file (`--config FILE`, YAML) → `SHADOWFLOW_*` environment →
// command-line flags, each layer overriding the one before. Every problem of every layer is collected and
// reported together in one ERR_CONFIG_INVALID (with file:line for the file); unknown keys and variables are
// rejected with a "did you mean". The result is frozen. Policy and inventory are data (-f, reloaded), not config.
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml'
import { ConfigInvalidError } from '../errors.js'
import { closestName as closestNameIn } from '../text/closest-name.js'

/** Config keys, variables and enum values: case aside, a unique prefix wins. */
function closestName (word: string, candidates: readonly string[]): string | undefined {
  return closestNameIn(word, candidates, { ignoreCase: true, preferPrefix: true })
}

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

type Kind =
  | { type: 'string', required?: boolean, check?: (v: string) => string | undefined }
  | { type: 'list', required?: boolean }
  | { type: 'int', min: number, max: number, multipleOf?: number }
  | { type: 'enum', values: readonly string[] }
  | { type: 'bool' }
  | { type: 'address', allowEmpty: boolean }

/** One configuration key: its flag, variable, default and meaning (the README's table is generated from it). */
export interface ConfigField {
  readonly key: keyof AgentConfig
  /** Long flag without dashes. */
  readonly flag: string
  readonly short?: string
  readonly kind: Kind
  readonly default: () => AgentConfig[keyof AgentConfig]
  readonly help: string
  /** Shown as `(set)` by /debug/config. */
  readonly secret?: boolean
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:]+):(\d{1,5})$/

/** Checks `host:port` (`[v6]:port` for IPv6); returns a problem or undefined. */
export function checkHostPort (value: string): string | undefined {
  const m = HOST_PORT.exec(value)
  if (m === null) return `"${value}" is not host:port`
  if (Number(m[2]) > 65535) return `port ${m[2]} is above 65535`
  return undefined
}

/** Splits `host:port` (brackets removed from IPv6 hosts). */
export function splitHostPort (value: string): { host: string, port: number } {
  const i = value.lastIndexOf(':')
  const host = value.slice(0, i)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(value.slice(i + 1)) }
}

const MIB = 1024 * 1024

/** Every configuration key, in the order `--help` and the README list them. */
export const CONFIG_FIELDS: readonly ConfigField[] = Object.freeze([
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
] satisfies ConfigField[])

/** `SHADOWFLOW_NODE_NAME` for `nodeName`. */
export function envName (key: string): string {
  return `SHADOWFLOW_${key.replace(/[A-Z]/g, c => `_${c}`).toUpperCase()}`
}

/** The configuration layers to merge; every part optional. */
export interface ConfigSources {
  /** `--config FILE`. */
  file?: string
  /** Environment (only SHADOWFLOW_* variables are read; SHADOWFLOW_CONFIG names the file when no flag does). */
  env?: Readonly<Record<string, string | undefined>>
  /** Flag values by config key, as the command line gave them (strings, string lists, booleans). */
  flags?: Partial<Record<keyof AgentConfig, string | readonly string[] | boolean>>
  /** Overrides of the built-in defaults (a command that embeds the agent, tests). */
  defaults?: Partial<AgentConfig>
}

const FIELD_BY_KEY = new Map(CONFIG_FIELDS.map(f => [f.key as string, f]))
const ENV_BY_NAME = new Map(CONFIG_FIELDS.map(f => [envName(f.key), f]))
/** Environment variables that belong to the agent without being a config key. */
const OTHER_ENV = new Set(['SHADOWFLOW_CONFIG'])

function convert (field: ConfigField, raw: unknown, fromText: boolean): { value?: unknown, problem?: string } {
  const kind = field.kind
  switch (kind.type) {
    case 'string': {
      if (typeof raw !== 'string') return { problem: `must be a string, got ${describe(raw)}` }
      const problem = kind.check?.(raw)
      return problem === undefined ? { value: raw } : { problem }
    }
    case 'list': {
      if (typeof raw === 'string') return { value: raw.split(',').map(s => s.trim()).filter(s => s !== '') }
      if (Array.isArray(raw) && raw.every(x => typeof x === 'string')) return { value: [...raw] }
      return { problem: `must be a list of strings, got ${describe(raw)}` }
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && fromText && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
      if (!Number.isSafeInteger(n)) return { problem: `must be an integer, got ${describe(raw)}` }
      if (n < kind.min || n > kind.max) return { problem: `must be between ${kind.min} and ${kind.max}, got ${n}` }
      if (kind.multipleOf !== undefined && n % kind.multipleOf !== 0) return { problem: `must be a multiple of ${kind.multipleOf}, got ${n}` }
      return { value: n }
    }
    case 'enum': {
      if (typeof raw !== 'string' || !kind.values.includes(raw)) {
        const hint = typeof raw === 'string' ? closestName(raw, kind.values) : undefined
        return { problem: `must be one of ${kind.values.join(', ')}, got ${describe(raw)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}` }
      }
      return { value: raw }
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { value: raw }
      if (fromText && typeof raw === 'string' && /^(true|false|1|0)$/i.test(raw)) return { value: /^(true|1)$/i.test(raw) }
      return { problem: `must be true or false, got ${describe(raw)}` }
    }
    case 'address': {
      if (typeof raw !== 'string') return { problem: `must be host:port, got ${describe(raw)}` }
      if (raw === '' && kind.allowEmpty) return { value: '' }
      const problem = checkHostPort(raw)
      return problem === undefined ? { value: raw } : { problem }
    }
  }
}

function describe (value: unknown): string {
  if (typeof value === 'string') return `"${value}"`
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'a map' : String(value)
}

/** Merges the layers; throws one ConfigInvalidError listing every problem. */
export async function loadAgentConfig (sources: ConfigSources = {}): Promise<AgentConfig> {
  const problems: string[] = []
  const values = new Map<string, unknown>()
  for (const field of CONFIG_FIELDS) values.set(field.key, sources.defaults?.[field.key] ?? field.default())

  const env = sources.env ?? {}
  const file = sources.file ?? env.SHADOWFLOW_CONFIG
  if (file !== undefined && file !== '') await readConfigFile(file, values, problems)

  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('SHADOWFLOW_') || text === undefined || OTHER_ENV.has(name)) continue
    const field = ENV_BY_NAME.get(name)
    if (field === undefined) {
      const hint = closestName(name, [...ENV_BY_NAME.keys()])
      problems.push(`environment ${name}: unknown variable${hint === undefined ? '' : ` (did you mean ${hint}?)`}`)
      continue
    }
    const { value, problem } = convert(field, text, true)
    if (problem !== undefined) problems.push(`environment ${name}: ${problem}`)
    else values.set(field.key, value)
  }

  for (const [key, raw] of Object.entries(sources.flags ?? {})) {
    const field = FIELD_BY_KEY.get(key)
    if (field === undefined || raw === undefined) continue
    const { value, problem } = convert(field, raw, true)
    if (problem !== undefined) problems.push(`--${field.flag}: ${problem}`)
    else values.set(field.key, value)
  }

  const kubernetes = values.get('kubernetes') === true
  for (const field of CONFIG_FIELDS) {
    const v = values.get(field.key)
    // --kubernetes replaces -f: policy and inventory come from the API.
    if (field.key === 'filenames' && kubernetes) continue
    const required = (field.kind.type === 'string' || field.kind.type === 'list') && field.kind.required === true
    if (required && (v === '' || (Array.isArray(v) && v.length === 0))) {
      problems.push(`${field.key}: required (--${field.flag}, ${envName(field.key)} or "${field.key}" in the config file)`)
    }
  }
  if ((values.get('tlsCert') === '') !== (values.get('tlsKey') === '')) problems.push('tlsCert and tlsKey: give both or neither')
  if (kubernetes && (values.get('filenames') as readonly string[]).length > 0) problems.push('filenames and kubernetes: policy comes from -f files or from the Kubernetes API, give one of them')
  if (!kubernetes && values.get('kubeconfig') !== '') problems.push('kubeconfig: only used with --kubernetes')
  const source = values.get('source') as string
  if (values.get('sourceFilter') !== '' && !source.startsWith('pcap:')) problems.push(`sourceFilter: only pcap: sources take a capture filter, not '${source}'`)

  if (problems.length > 0) {
    throw new ConfigInvalidError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration:\n  ${problems.join('\n  ')}`)
  }
  const config = Object.fromEntries(values) as unknown as AgentConfig
  Object.freeze(config.filenames)
  return Object.freeze(config)
}

async function readConfigFile (file: string, values: Map<string, unknown>, problems: string[]): Promise<void> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    problems.push(`${file}: cannot read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`)
    return
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push(`${file}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0] ?? ''}`)
    return
  }
  if (doc.contents === null) return
  if (!isMap(doc.contents)) { problems.push(`${file}:1: expected a map of settings (key: value)`); return }
  for (const pair of doc.contents.items) {
    const keyNode = pair.key
    const line = isScalar(keyNode) && keyNode.range !== undefined && keyNode.range !== null ? lineCounter.linePos(keyNode.range[0]).line : 1
    const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
    const field = FIELD_BY_KEY.get(key)
    if (field === undefined) {
      const hint = closestName(key, [...FIELD_BY_KEY.keys()])
      problems.push(`${file}:${line}: ${key}: unknown key${hint === undefined ? '' : ` (did you mean ${hint}?)`}`)
      continue
    }
    const raw: unknown = (pair.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? (isScalar(pair.value) ? pair.value.value : pair.value)
    const { value, problem } = convert(field, raw, false)
    if (problem !== undefined) problems.push(`${file}:${line}: ${key}: ${problem}`)
    else values.set(field.key, value)
  }
}

/** The configuration as /debug/config shows it: secrets replaced by `(set)`. */
export function redactConfig (config: AgentConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of CONFIG_FIELDS) {
    const v = config[field.key]
    out[field.key] = field.secret === true && v !== '' ? '(set)' : v
  }
  return out
}
