// The bounded cache of whole verdicts. The common flow — IPv4 at both ends, a destination port, no ICMP
// fields, no source-port-dependent rules — is keyed by numbers only: protocol → source address →
// (destination address × 65536 + port), so a warm lookup builds no string and allocates nothing. Every other
// flow uses a string key. When the bound is reached the cache is emptied at once (counted): a cheap, honest
// bound for a cache that is rebuilt by the traffic itself in one interval.
import type { FlowEndInput, FlowInput } from './flow-facts.js'
import type { FlowVerdicts } from './policy-hit.js'

/**
 * Numeric key part of one IPv4 end, or undefined when the end needs the generic key. An end given as an
 * endpoint is keyed by its first address only when that is the address evaluated, so `{endpoint}` and `{ip}` of
 * the same pod share an entry and nothing else does.
 */
function ipv4Of (end: FlowEndInput): number | undefined {
  const ip = end.ip ?? end.endpoint?.ips[0]
  if (ip === undefined || ip.version !== 4) return undefined
  if (end.endpoint !== undefined && end.endpoint.ips[0]?.value !== ip.value) return undefined
  return ip.value
}

export class VerdictCache {
  private readonly byProtocol: Array<Map<number, Map<number, FlowVerdicts>> | undefined> = []
  private readonly generic = new Map<string, FlowVerdicts>()
  private entries = 0
  /** Entries dropped because the bound was reached. */
  evictions = 0

  constructor (private readonly maxEntries: number) {}

  /** False when built with no room (then nothing is looked up or counted). */
  get enabled (): boolean { return this.maxEntries > 0 }

  /** Looks a flow up; `usesSourcePorts` says whether source ports are part of the key. */
  get (flow: FlowInput, usesSourcePorts: boolean): FlowVerdicts | undefined {
    // The numeric path inlined: no key tuple is allocated on a warm lookup.
    if (this.numericEligible(flow, usesSourcePorts)) {
      const src = ipv4Of(flow.src)
      const dst = ipv4Of(flow.dst)
      if (src !== undefined && dst !== undefined) return this.byProtocol[flow.protocol]?.get(src)?.get(dst * 65536 + (flow.dst.port as number))
    }
    return this.generic.get(this.stringKey(flow, usesSourcePorts))
  }

  private numericEligible (flow: FlowInput, usesSourcePorts: boolean): boolean {
    return flow.icmpType === undefined && flow.icmpCode === undefined && flow.dst.port !== undefined && !(usesSourcePorts && flow.src.port !== undefined)
  }

  set (flow: FlowInput, usesSourcePorts: boolean, verdicts: FlowVerdicts): void {
    if (this.maxEntries <= 0) return
    if (this.entries >= this.maxEntries) this.clear(true)
    this.entries++
    const numeric = this.numericKey(flow, usesSourcePorts)
    if (numeric === undefined) { this.generic.set(this.stringKey(flow, usesSourcePorts), verdicts); return }
    let bySource = this.byProtocol[flow.protocol]
    if (bySource === undefined) { bySource = new Map(); this.byProtocol[flow.protocol] = bySource }
    let byDestination = bySource.get(numeric[0])
    if (byDestination === undefined) { byDestination = new Map(); bySource.set(numeric[0], byDestination) }
    byDestination.set(numeric[1], verdicts)
  }

  /** Empties the cache; `evicted` counts the entries as evictions. */
  clear (evicted = false): void {
    if (evicted) this.evictions += this.entries
    this.byProtocol.length = 0
    this.generic.clear()
    this.entries = 0
  }

  get size (): number { return this.entries }

  private numericKey (flow: FlowInput, usesSourcePorts: boolean): [number, number] | undefined {
    if (!this.numericEligible(flow, usesSourcePorts)) return undefined
    const port = flow.dst.port as number
    const src = ipv4Of(flow.src)
    const dst = ipv4Of(flow.dst)
    if (src === undefined || dst === undefined) return undefined
    return [src, dst * 65536 + port]
  }

  private stringKey (flow: FlowInput, usesSourcePorts: boolean): string {
    const end = (e: FlowEndInput): string => e.endpoint !== undefined && e.ip === undefined ? `e${e.endpoint.id}` : e.ip === undefined ? '-' : `${e.ip.version}:${e.ip.value}`
    return `${end(flow.src)}|${end(flow.dst)}|${flow.protocol}|${flow.dst.port ?? ''}|${usesSourcePorts ? flow.src.port ?? '' : ''}|${flow.icmpType ?? ''}|${flow.icmpCode ?? ''}`
  }
}
