// The aggregator's configuration (config-layers.ts: defaults → `--config FILE` → SHADOWFLOW_* environment →
// flags): its keys and the checks across them. The same layers and error reporting as the agent's, so a
// Deployment can take its settings from a ConfigMap file and per-pod values from the environment.
import { loadConfig, parseListenAddress, redactConfig as redactWith, type ConfigField, type ConfigSchema, type ConfigSources } from './config-layers.js'

/** The aggregator's settings (see AGGREGATOR_CONFIG_FIELDS for flags, variables and defaults). */
export interface AggregatorConfig {
  readonly listen: string
  /** Seconds. */
  readonly retention: number
  readonly maxFlows: number
  readonly tlsCert: string
  readonly tlsKey: string
  readonly tlsCa: string
  readonly agentServerName: string
  /** host:port, a port alone (127.0.0.1), or empty: off. */
  readonly metricsAddr: string
  /** Seconds. */
  readonly shutdownGrace: number
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

/** `host:port` or a port alone (bound on 127.0.0.1); a problem or undefined. */
function checkListenAddress (value: string): string | undefined {
  const parsed = parseListenAddress(value)
  if (parsed === undefined) return `"${value}" is not host:port or a port`
  return parsed.port > 65535 ? `port ${parsed.port} is above 65535` : undefined
}

/** Every aggregator configuration key, in the order `--help` and the README list them. */
export const AGGREGATOR_CONFIG_FIELDS: ReadonlyArray<ConfigField<AggregatorConfig>> = Object.freeze([
  { key: 'listen', flag: 'listen', kind: { type: 'string', numbersAsText: true, check: checkListenAddress }, default: () => '127.0.0.1:7443', help: 'gRPC address to serve on: goldmane.FlowCollector/Flows/Statistics, shadowflow.v1.Impact/Nodes, health, reflection (a port alone binds 127.0.0.1)' },
  { key: 'retention', flag: 'retention', kind: { type: 'duration', min: 15, max: 30 * 86400, multipleOf: 15 }, default: () => 3600, help: 'how long flows are kept (15 s buckets; a multiple of 15 s); older updates are rejected, counted' },
  { key: 'maxFlows', flag: 'max-flows', kind: { type: 'int', min: 1, max: 1 << 28 }, default: () => 1_000_000, help: 'bound of stored flows (per key and 15 s bucket); the oldest buckets are evicted beyond it, counted' },
  { key: 'tlsCert', flag: 'tls-cert', kind: { type: 'string' }, default: () => '', help: 'PEM server certificate (TLS)' },
  { key: 'tlsKey', flag: 'tls-key', kind: { type: 'string' }, default: () => '', help: 'PEM private key of --tls-cert', secret: true },
  { key: 'tlsCa', flag: 'tls-ca', kind: { type: 'string' }, default: () => '', help: 'PEM CA that client certificates must be signed by (mutual TLS); also verifies agents on fan-out' },
  { key: 'agentServerName', flag: 'agent-server-name', kind: { type: 'string' }, default: () => '', help: 'TLS: the name agent certificates are checked against on fan-out (agents are dialled by pod IP; e.g. shadowflow-agent)' },
  { key: 'metricsAddr', flag: 'metrics-addr', kind: { type: 'string', numbersAsText: true, check: v => v === '' ? undefined : checkListenAddress(v) }, default: () => '', help: 'serve Prometheus /metrics here (a port alone binds 127.0.0.1; empty: off)' },
  { key: 'shutdownGrace', flag: 'shutdown-grace', kind: { type: 'duration', min: 0, max: 3600 }, default: () => 5, help: 'how long running queries may finish on SIGTERM' },
  { key: 'logLevel', flag: 'log-level', kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, default: () => 'info', help: 'log level (JSON logs on stderr)' }
] satisfies Array<ConfigField<AggregatorConfig>>)

const AGGREGATOR_SCHEMA: ConfigSchema<AggregatorConfig> = {
  fields: AGGREGATOR_CONFIG_FIELDS,
  crossCheck (values, problems) {
    if ((values.get('tlsCert') === '') !== (values.get('tlsKey') === '')) problems.push('tlsCert and tlsKey: give both or neither')
  }
}

/** The aggregator's configuration from its layers; throws one ConfigInvalidError listing every problem. */
export async function loadAggregatorConfig (sources: ConfigSources<AggregatorConfig> = {}): Promise<AggregatorConfig> {
  return await loadConfig(AGGREGATOR_SCHEMA, sources)
}

/** The configuration as a log line shows it: secrets replaced by `(set)`. */
export function redactAggregatorConfig (config: AggregatorConfig): Record<string, unknown> {
  return redactWith(AGGREGATOR_SCHEMA, config)
}
