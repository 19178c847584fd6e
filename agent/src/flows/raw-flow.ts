// A raw flow: one 5-tuple as the tap last reported it (cumulative counters), named and evaluated like a flow
// log but not aggregated — what the node query service's RAW_FLOWS ring holds (shadowflow.v1.RawFlow).
import type { PolicyHit } from '../policy/policy-hit.js'
import type { EndpointType } from './flow-log.js'

/** Both pipelines' hits at one end of a flow. */
export interface EndTrace {
  readonly enforced: readonly PolicyHit[]
  readonly pending: readonly PolicyHit[]
}

/** One 5-tuple with both verdicts; "forward" is initiator → responder. */
export interface RawFlow {
  readonly proto: string
  readonly sourceIp: string
  readonly destIp: string
  readonly sourcePort: number
  readonly destPort: number
  readonly packetsForward: number
  readonly bytesForward: number
  readonly packetsReverse: number
  readonly bytesReverse: number
  readonly firstSeenMs: number
  readonly lastSeenMs: number
  /** The verdict of the flow as a whole (allowed only when both ends allow). */
  readonly enforcedAction: 'Allow' | 'Deny'
  readonly pendingAction: 'Allow' | 'Deny'
  readonly sourcePolicies: EndTrace
  readonly destPolicies: EndTrace
  readonly sourceName: string
  readonly sourceNamespace: string
  readonly sourceType: EndpointType
  readonly destName: string
  readonly destNamespace: string
  readonly destType: EndpointType
  readonly destServiceName: string
  readonly destServiceNamespace: string
  readonly destServicePortName: string
  readonly destServicePort: number
  /** '' while the flow is open; else why the tap closed it. */
  readonly endReason: '' | 'idle' | 'tcpClosed' | 'flush' | 'evicted'
  readonly unobservable: readonly string[]
}

/** Goldmane's protocol text: tcp, udp, sctp, icmp, icmp6, or the number. */
export function flowProtoName (protocol: number): string {
  switch (protocol) {
    case 6: return 'tcp'
    case 17: return 'udp'
    case 132: return 'sctp'
    case 1: return 'icmp'
    case 58: return 'icmp6'
    default: return String(protocol)
  }
}
