// The domain form of a flow log: Goldmane's FlowKey and Flow with camelCase names and plain numbers. The gRPC
// layer maps these to and from the wire (proto/goldmane/api.proto); everything else works on these types.
import type { PolicyHit } from '../policy/policy-hit.js'

/** Goldmane's EndpointType. */
export type EndpointType = 'WorkloadEndpoint' | 'HostEndpoint' | 'NetworkSet' | 'Network'

/** Which end reported the flow: src = egress on the source node, dst = ingress on the destination node. */
export type Reporter = 'Src' | 'Dst'

/** Goldmane's FlowKey: what a flow log aggregates by. */
export interface FlowKey {
  /** Pod name aggregated by generateName (`web-7d4f9-*`), host endpoint, network set name, or `pub`/`pvt`. */
  readonly sourceName: string
  readonly sourceNamespace: string
  readonly sourceType: EndpointType
  readonly destName: string
  readonly destNamespace: string
  readonly destType: EndpointType
  readonly destPort: number
  readonly destServiceName: string
  readonly destServiceNamespace: string
  readonly destServicePortName: string
  readonly destServicePort: number
  /** `tcp`, `udp`, `sctp`, `icmp`, `icmp6`, or the protocol number as text. */
  readonly proto: string
  readonly reporter: Reporter
  /** The enforced verdict at the reporting end. */
  readonly action: 'Allow' | 'Deny'
  readonly policies: {
    readonly enforced: readonly PolicyHit[]
    readonly pending: readonly PolicyHit[]
  }
}

/** Counters of one flow log (one key over one interval). */
export interface FlowStats {
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  connectionsStarted: number
  connectionsCompleted: number
  connectionsLive: number
}

/** A flow log: a key, an interval and its counters. Times are Unix seconds. */
export interface FlowLog extends FlowStats {
  readonly key: FlowKey
  readonly startTime: number
  readonly endTime: number
  /** `key=value` labels of each end (Goldmane sends them as repeated strings). */
  readonly sourceLabels: readonly string[]
  readonly destLabels: readonly string[]
}

/** Goldmane's bucket size: flow-log intervals are multiples of it. */
export const FLOW_INTERVAL_SECONDS = 15

/**
 * The labels two flows under one flow-log name share (generateName aggregation puts several pods under one name;
 * Felix keeps the labels common to all). `a` itself when nothing is dropped.
 */
export function sharedLabels (a: readonly string[], b: readonly string[]): readonly string[] {
  if (a === b || a.length === 0) return a
  const other = new Set(b)
  return a.filter(x => other.has(x))
}
