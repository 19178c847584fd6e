// Recognises resent flow updates. After a reconnection an agent (or Felix) resends everything it still
// buffers, some of which the aggregator already stored; Goldmane leaves deduplication to the server. An update
// is a resend when the same node already delivered the same FlowKey with the same start time.
//
// State is bounded twice: entries live in 15 s buckets that expire with the store's retention window (an
// older update is rejected by the store anyway), and at most `maxEntries` are kept — beyond that the oldest
// bucket is forgotten and counted, so a resend of that oldest data would be counted twice (the price of a
// memory bound; the counter makes it visible).
import { createHash } from 'node:crypto'
import { FLOW_INTERVAL_SECONDS } from '../flows/flow-log.js'
import { bucketStartOf } from './flow-store.js'

/** Construction options. */
export interface ResendDeduplicatorOptions {
  /** Same as the store's retention (default 3600 s). */
  retentionSeconds?: number
  /** Bound on remembered updates (default 2,000,000). */
  maxEntries?: number
  nowSeconds?: () => number
}

/** Counters of the deduplicator. */
export interface ResendDeduplicatorStats {
  /** Remembered updates now. */
  entries: number
  /** Updates recognised as resends. */
  duplicates: number
  /** Remembered updates forgotten early to stay under maxEntries. */
  evicted: number
}

/** Remembers (node, FlowKey, start time) of delivered updates over the retention window. */
export class ResendDeduplicator {
  private readonly retentionSeconds: number
  private readonly maxEntries: number
  private readonly nowSeconds: () => number
  private readonly buckets = new Map<number, Set<string>>()
  private readonly order: number[] = []
  private entries = 0
  private duplicates = 0
  private evicted = 0

  constructor (options: ResendDeduplicatorOptions = {}) {
    this.retentionSeconds = options.retentionSeconds ?? 3600
    this.maxEntries = options.maxEntries ?? 2_000_000
    this.nowSeconds = options.nowSeconds ?? (() => Date.now() / 1000)
  }

  /** The fingerprint of one update: fixed size whatever the key's length (a trace can be long). */
  static fingerprint (nodeId: string, keyIdentity: string, startTime: number): string {
    return createHash('sha1').update(nodeId).update('\u0000').update(String(startTime)).update('\u0000').update(keyIdentity).digest('base64')
  }

  /** True when this update was already delivered by the node (and counts it); false for a new one. */
  isDuplicate (fingerprint: string, startTime: number): boolean {
    const seen = this.buckets.get(bucketStartOf(startTime))?.has(fingerprint) === true
    if (seen) this.duplicates++
    return seen
  }

  /** Remembers a delivered update (call after the store accepted it). */
  remember (fingerprint: string, startTime: number): void {
    this.expire()
    const start = bucketStartOf(startTime)
    if (this.buckets.get(start)?.has(fingerprint) === true) return
    // Make room by forgetting buckets older than this update's; when only newer (or its own) buckets are left,
    // this update is the oldest data and is the one not remembered.
    while (this.entries >= this.maxEntries) {
      const oldest = this.order[0]
      if (oldest === undefined || oldest >= start) { this.evicted++; return }
      this.evicted += this.dropOldest()
    }
    let set = this.buckets.get(start)
    if (set === undefined) {
      set = new Set()
      this.buckets.set(start, set)
      let i = this.order.length
      while (i > 0 && (this.order[i - 1] as number) > start) i--
      this.order.splice(i, 0, start)
    }
    set.add(fingerprint)
    this.entries++
  }

  stats (): ResendDeduplicatorStats {
    return { entries: this.entries, duplicates: this.duplicates, evicted: this.evicted }
  }

  private expire (): void {
    const cutoff = this.nowSeconds() - this.retentionSeconds
    for (;;) {
      const oldest = this.order[0]
      if (oldest === undefined || oldest + FLOW_INTERVAL_SECONDS > cutoff) return
      this.dropOldest()
    }
  }

  private dropOldest (): number {
    const start = this.order.shift()
    if (start === undefined) return 0
    const set = this.buckets.get(start)
    this.buckets.delete(start)
    const removed = set?.size ?? 0
    this.entries -= removed
    return removed
  }
}
