// The exporter's memory: flow logs not yet acknowledged by the aggregator AND recently acknowledged ones, in
// order, bounded by bytes and age. Unacknowledged logs are resent after a reconnection; everything still held is
// resent when the aggregator turns out to be a new instance (it restarted and lost its store; it deduplicates by
// (node, key, start_time), so a resend never counts twice). Overflow drops the oldest entry; dropping one that
// was never acknowledged is a loss and is counted. No I/O: the exporter drives it.
import type { FlowLog } from '../flows/flow-log.js'

interface Entry {
  readonly seq: number
  readonly log: FlowLog
  readonly bytes: number
  readonly enqueuedMs: number
  acked: boolean
  sent: boolean
}

export interface ExportBufferOptions {
  maxBytes: number
  maxAgeMs: number
}

/** Counters of the buffer. */
export interface ExportBufferStats {
  flowLogs: number
  bytes: number
  unacknowledged: number
  acks: number
  dropped: { overflow: number, aged: number, stopped: number }
}

/** A bounded, ordered buffer of flow logs with a send cursor. */
export class ExportBuffer {
  private entries: Entry[] = []
  private head = 0
  private nextSeq = 1
  /** Next seq to send. */
  private cursor = 1
  /** Seqs written on the current stream and not yet answered by a receipt, in order. */
  private inflight: number[] = []
  private inflightHead = 0
  private bytes = 0
  private unacked = 0
  private acks = 0
  private readonly dropped = { overflow: 0, aged: 0, stopped: 0 }

  constructor (private readonly options: ExportBufferOptions, private readonly sizeOf: (log: FlowLog) => number) {}

  /** Appends flow logs; the oldest entries leave when the byte bound is exceeded. */
  push (logs: readonly FlowLog[], nowMs: number): void {
    for (const log of logs) {
      const bytes = this.sizeOf(log)
      this.entries.push({ seq: this.nextSeq++, log, bytes, enqueuedMs: nowMs, acked: false, sent: false })
      this.bytes += bytes
      this.unacked++
    }
    while (this.bytes > this.options.maxBytes && this.size > 1) this.dropHead('overflow')
  }

  /** Drops entries older than the age bound. */
  prune (nowMs: number): void {
    for (let e = this.first(); e !== undefined && nowMs - e.enqueuedMs > this.options.maxAgeMs; e = this.first()) this.dropHead('aged')
  }

  private first (): Entry | undefined { return this.entries[this.head] }

  private get size (): number { return this.entries.length - this.head }

  private dropHead (reason: 'overflow' | 'aged'): void {
    const e = this.entries[this.head] as Entry
    this.head++
    this.bytes -= e.bytes
    if (!e.acked) { this.unacked--; this.dropped[reason]++ }
    if (this.cursor <= e.seq) this.cursor = e.seq + 1
    // Compact now and then instead of shifting on every drop.
    if (this.head > 1024 && this.head * 2 > this.entries.length) { this.entries = this.entries.slice(this.head); this.head = 0 }
  }

  private entry (seq: number): Entry | undefined {
    const first = this.first()
    if (first === undefined || seq < first.seq) return undefined
    return this.entries[this.head + (seq - first.seq)]
  }

  /** The next flow log to write on the stream (and whether it was written before), or undefined when caught up. */
  takeNext (): { log: FlowLog, resend: boolean } | undefined {
    const first = this.first()
    if (first !== undefined && this.cursor < first.seq) this.cursor = first.seq
    for (;;) {
      const e = this.entry(this.cursor)
      if (e === undefined) return undefined
      this.cursor++
      // After a reconnection to the same instance only unacknowledged entries go again.
      if (e.acked && !this.resendAcked) continue
      const resend = e.sent
      e.sent = true
      this.inflight.push(e.seq)
      return { log: e.log, resend }
    }
  }

  private resendAcked = false

  /** A receipt: acknowledges the oldest flow update in flight on the current stream. False if none was. */
  acknowledge (): boolean {
    if (this.inflightHead >= this.inflight.length) return false
    const seq = this.inflight[this.inflightHead++] as number
    if (this.inflightHead > 1024 && this.inflightHead * 2 > this.inflight.length) { this.inflight = this.inflight.slice(this.inflightHead); this.inflightHead = 0 }
    this.acks++
    const e = this.entry(seq)
    if (e !== undefined && !e.acked) { e.acked = true; this.unacked-- }
    return true
  }

  /**
   * A new stream begins: rewind so that what was not acknowledged is sent again — or, when the aggregator is a
   * new instance, everything still held.
   */
  rewind (everything: boolean): void {
    this.inflight = []
    this.inflightHead = 0
    this.resendAcked = everything
    const first = this.first()
    this.cursor = first?.seq ?? this.nextSeq
    if (!everything) {
      while (this.cursor < this.nextSeq && this.entry(this.cursor)?.acked === true) this.cursor++
    }
  }

  /** True when nothing remains unacknowledged. */
  get drained (): boolean { return this.unacked === 0 }

  /** True when there is something to write. */
  get hasPending (): boolean {
    for (let seq = this.cursor; seq < this.nextSeq; seq++) {
      const e = this.entry(seq)
      if (e !== undefined && (!e.acked || this.resendAcked)) return true
    }
    return false
  }

  /** Counts what is still unacknowledged as lost (the agent stopped before the receipts came). */
  abandon (): number {
    const lost = this.unacked
    this.dropped.stopped += lost
    for (let i = this.head; i < this.entries.length; i++) (this.entries[i] as Entry).acked = true
    this.unacked = 0
    return lost
  }

  stats (): ExportBufferStats {
    return { flowLogs: this.size, bytes: this.bytes, unacknowledged: this.unacked, acks: this.acks, dropped: { ...this.dropped } }
  }
}
