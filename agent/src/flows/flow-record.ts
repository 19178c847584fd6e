// The flow record as the rest of shadowflow sees it: a plain object decoded from the native tap's fixed binary
// layout (native/include/flow-record.h). Lives in flows/ so pure code can use it without importing tap/.

/** Why a record was emitted: a new flow, an active-timeout update, the end of a flow, or an LRU eviction. */
export type FlowRecordKind = 'start' | 'update' | 'end' | 'evicted'

/** For `end` records: idle timeout, TCP close (FIN both ways or RST), or the source ended/closed. */
export type FlowEndReason = 'none' | 'idle' | 'tcpClosed' | 'flush'

/** One flow record. "Fwd" is initiator → responder (src → dst), "Rev" the reply direction. */
export interface FlowRecord {
  kind: FlowRecordKind
  endReason: FlowEndReason
  /** 4 or 6. */
  family: 4 | 6
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6). */
  protocol: number
  /** Initiator address in canonical text form. */
  srcAddr: string
  /** Responder address in canonical text form. */
  dstAddr: string
  /** Initiator port; for ICMP echo both ports are the echo identifier; 0 for other ICMP. */
  srcPort: number
  dstPort: number
  /** Interface index (0 when unknown, e.g. capture files). */
  ifindex: number
  /** Index into the source's interface-name list. */
  nameId: number
  packetsFwd: number
  /** IP-layer bytes (IP header + payload) sent by the initiator. */
  bytesFwd: number
  packetsRev: number
  bytesRev: number
  /** Flow clock in milliseconds since the Unix epoch (fractional). */
  firstSeenMs: number
  lastSeenMs: number
  /** Identifies the flow across its start/update/end records within one source. */
  flowId: number
  tcpFlagsFwd: number
  tcpFlagsRev: number
  /** Raw state bits (see FLOW_STATE). */
  state: number
  /** First ICMP type/code from the initiator (ICMP and ICMPv6 flows only, else 0). */
  icmpType: number
  icmpCode: number
  /** IP fragments counted for this flow (saturates at 65535). */
  fragments: number
  /**
   * The flow's slot in the source's flow table + 1 (the eBPF source: among the flows its user space tracks), or 0
   * when there is none (records built in code):
   * the same for all the flow's records, reused by another flow only after this one's end/evicted record.
   */
  slot: number
}

/** Bits of FlowRecord.state, as in flow-record.h. */
export const FLOW_STATE = Object.freeze({
  TCP_SYN: 1 << 0,
  TCP_SYNACK: 1 << 1,
  TCP_FIN_FWD: 1 << 2,
  TCP_FIN_REV: 1 << 3,
  TCP_RST: 1 << 4,
  TCP_COMPLETED: 1 << 5,
  MIDSTREAM: 1 << 6,
  FRAGMENTED: 1 << 7
})

/** Whether a TCP connection started (the initiator's SYN was seen) in this flow. */
export function connectionStarted (record: FlowRecord): boolean {
  return (record.state & FLOW_STATE.TCP_SYN) !== 0
}

/** Whether a started TCP connection was closed (FIN both ways or RST). */
export function connectionCompleted (record: FlowRecord): boolean {
  return (record.state & FLOW_STATE.TCP_COMPLETED) !== 0
}

/** Whether a started TCP connection is still open at the time of this record. */
export function connectionLive (record: FlowRecord): boolean {
  return connectionStarted(record) && !connectionCompleted(record) && (record.state & FLOW_STATE.TCP_RST) === 0
}
