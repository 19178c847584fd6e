// The ring of recent raw flows (the node query service's RAW_FLOWS, /debug/flows?raw): one entry per flow
// record. The aggregator pushes on every record, so a push must not allocate: a slot holds a reference to the
// flow's evaluated shape (shared by every record of the flow, and by flows of the same endpoints, port and
// verdicts) plus the record's numbers in typed arrays, and a RawFlow object is built only when someone reads the
// ring or follows it.
import type { FlowVerdicts } from '../policy/policy-hit.js'
import type { Sequenced, SequencedRing } from './bounded-ring.js'
import { flowEndFields, type FlowEnd, type FlowService } from './flow-end.js'
import { flowProtoName, type RawFlow } from './raw-flow.js'

/** What every record of one flow shares: its addresses, destination port, ends, service and verdicts. */
export interface RawFlowShape {
  readonly srcAddr: string
  readonly dstAddr: string
  readonly protocol: number
  /** 0 for protocols without ports. */
  readonly destPort: number
  readonly src: FlowEnd
  readonly dst: FlowEnd
  readonly service: FlowService | undefined
  /** Both ends' verdicts (may be computed on first read). */
  readonly verdicts: FlowVerdicts
}

/** The per-record part of a RawFlow. */
export type RawFlowEndReason = RawFlow['endReason']

const END_REASONS: readonly RawFlowEndReason[] = ['', 'idle', 'tcpClosed', 'flush', 'evicted']
const END_REASON_CODE: Readonly<Record<RawFlowEndReason, number>> = { '': 0, idle: 1, tcpClosed: 2, flush: 3, evicted: 4 }
/** Numbers per slot: seq, sourcePort, packets/bytes each way, first/last seen. */
const FIELDS = 8

/** The most recent `capacity` raw flows, stored without an object per entry. */
export class RecentRawFlows implements SequencedRing<RawFlow> {
  private readonly shapes: Array<RawFlowShape | undefined>
  private readonly numbers: Float64Array
  private readonly endReasons: Uint8Array
  private nextSeq = 1
  overwritten = 0
  private readonly listeners = new Set<(entry: Sequenced<RawFlow>) => void>()

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`)
    this.shapes = new Array<RawFlowShape | undefined>(capacity).fill(undefined)
    this.numbers = new Float64Array(capacity * FIELDS)
    this.endReasons = new Uint8Array(capacity)
  }

  /** Adds one record's raw flow; returns its sequence number. Followers are called synchronously. */
  push (shape: RawFlowShape, sourcePort: number, packetsForward: number, bytesForward: number, packetsReverse: number, bytesReverse: number,
    firstSeenMs: number, lastSeenMs: number, endReason: RawFlowEndReason): number {
    const seq = this.nextSeq++
    const index = seq % this.capacity
    if (this.shapes[index] !== undefined) this.overwritten++
    this.shapes[index] = shape
    const n = this.numbers
    const o = index * FIELDS
    n[o] = seq
    n[o + 1] = sourcePort
    n[o + 2] = packetsForward
    n[o + 3] = bytesForward
    n[o + 4] = packetsReverse
    n[o + 5] = bytesReverse
    n[o + 6] = firstSeenMs
    n[o + 7] = lastSeenMs
    this.endReasons[index] = END_REASON_CODE[endReason]
    if (this.listeners.size > 0) {
      const entry = { seq, item: this.materialize(index) }
      for (const listener of this.listeners) listener(entry)
    }
    return seq
  }

  /** Calls `fn` for every shape the ring holds (once per slot). */
  forEachShape (fn: (shape: RawFlowShape) => void): void {
    for (const shape of this.shapes) if (shape !== undefined) fn(shape)
  }

  get size (): number { return Math.min(this.nextSeq - 1, this.capacity) }

  get next (): number { return this.nextSeq }

  since (after = 0): Array<Sequenced<RawFlow>> {
    const out: Array<Sequenced<RawFlow>> = []
    const first = Math.max(after + 1, this.nextSeq - this.capacity, 1)
    for (let seq = first; seq < this.nextSeq; seq++) {
      const index = seq % this.capacity
      if (this.shapes[index] !== undefined && this.numbers[index * FIELDS] === seq) out.push({ seq, item: this.materialize(index) })
    }
    return out
  }

  subscribe (listener: (entry: Sequenced<RawFlow>) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private materialize (index: number): RawFlow {
    const shape = this.shapes[index] as RawFlowShape
    const n = this.numbers
    const o = index * FIELDS
    const { src, dst, service, verdicts } = shape
    return {
      proto: flowProtoName(shape.protocol),
      sourceIp: shape.srcAddr,
      destIp: shape.dstAddr,
      sourcePort: n[o + 1] as number,
      destPort: shape.destPort,
      packetsForward: n[o + 2] as number,
      bytesForward: n[o + 3] as number,
      packetsReverse: n[o + 4] as number,
      bytesReverse: n[o + 5] as number,
      firstSeenMs: n[o + 6] as number,
      lastSeenMs: n[o + 7] as number,
      enforcedAction: verdicts.enforced.action,
      pendingAction: verdicts.pending.action,
      sourcePolicies: { enforced: verdicts.enforced.src, pending: verdicts.pending.src },
      destPolicies: { enforced: verdicts.enforced.dst, pending: verdicts.pending.dst },
      ...flowEndFields(src, dst, service),
      endReason: END_REASONS[this.endReasons[index] as number] as RawFlowEndReason,
      unobservable: verdicts.unobservable
    }
  }
}
