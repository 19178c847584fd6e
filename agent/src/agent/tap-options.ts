// The agent's configuration as the options of its tap source: each option only for the source kinds that take
// it (the tap rejects any other, so a mistake is reported rather than ignored).
import type { AgentConfig } from '../config/agent-config.js'
import { parseTapSourceSpec, type TapSourceOptions } from '../tap/tap-source-spec.js'

export function tapSourceOptions (config: AgentConfig): TapSourceOptions {
  const kind = parseTapSourceSpec(config.source).kind
  if (kind === 'synthetic') return {}
  // Every capturing source keeps a flow table (libpcap's in the addon, eBPF's in a kernel map).
  const options: TapSourceOptions = {
    idleTimeoutMs: config.flowIdleTimeoutSeconds * 1000,
    activeTimeoutMs: config.flowActiveTimeoutSeconds * 1000,
    maxFlows: config.flowTableSize
  }
  if (kind === 'ebpf') return { ...options, fallback: config.sourceFallback, attach: config.sourceAttach }
  if (kind === 'pcap' && config.sourceFilter !== '') return { ...options, filter: config.sourceFilter }
  return options
}
