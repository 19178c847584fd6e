// What a Flows.Stream call sends: one result per flow and 15 s bucket, once the bucket has settled (Goldmane
// sends [now-2·interval, now-interval] so a bucket's data is reasonably complete), and again if a late update
// (another node, a resend after the bucket was sent) changes it. The backlog — buckets that end after the
// requested start — comes first. Pending entries are bounded; overflow drops the oldest and is counted.
import { FLOW_INTERVAL_SECONDS } from '../flows/flow-log.js'
import { matchesFlowKey, type FlowFilter } from '../flows/flow-filter.js'
import type { FlowResultEntry, FlowStore } from './flow-store.js'

/** Feed options. */
export interface LiveFlowFeedOptions {
  /** Absolute Unix seconds: buckets ending at or before it are not sent. */
  fromSeconds: number
  filter?: FlowFilter | undefined
  /** Seconds after a bucket's end before it is sent (default 15, Goldmane's one interval). */
  settleSeconds?: number
  /** Bound on (bucket, key) entries waiting to be sent (default 100,000). */
  maxPending?: number
}

/** A subscription to the store that yields settled (bucket, flow) results. */
export class LiveFlowFeed {
  /** Entries dropped because the pending bound was reached (a slow client on a busy store). */
  dropped = 0
  private readonly pending = new Map<string, [number, number]>()
  private readonly decided = new Map<number, boolean>()
  private readonly unsubscribe: () => void
  private readonly settleSeconds: number
  private readonly maxPending: number

  constructor (private readonly store: FlowStore, private readonly options: LiveFlowFeedOptions) {
    this.settleSeconds = options.settleSeconds ?? FLOW_INTERVAL_SECONDS
    this.maxPending = options.maxPending ?? 100_000
    for (const [bucket, id] of store.entriesSince(options.fromSeconds)) this.offer(bucket, id)
    this.unsubscribe = store.subscribe((bucket, id) => {
      if (bucket + FLOW_INTERVAL_SECONDS > options.fromSeconds) this.offer(bucket, id)
    })
  }

  /** Entries waiting (settled or not). */
  get size (): number { return this.pending.size }

  /** Removes and returns the settled results, oldest bucket first. */
  takeReady (nowSeconds: number): FlowResultEntry[] {
    const ready: Array<[number, number]> = []
    for (const [slot, entry] of this.pending) {
      if (entry[0] + FLOW_INTERVAL_SECONDS + this.settleSeconds > nowSeconds) continue
      ready.push(entry)
      this.pending.delete(slot)
    }
    ready.sort((a, b) => a[0] - b[0] || a[1] - b[1])
    const out: FlowResultEntry[] = []
    for (const [bucket, id] of ready) {
      const entry = this.store.entry(bucket, id)
      // Expired or evicted meanwhile: nothing to send.
      if (entry === undefined) continue
      out.push({ id, flow: { ...entry.flow, startTime: bucket, endTime: bucket + FLOW_INTERVAL_SECONDS } })
    }
    return out
  }

  /** Stops listening to the store. */
  close (): void {
    this.unsubscribe()
    this.pending.clear()
  }

  private offer (bucket: number, id: number): void {
    if (!this.matches(id)) return
    const slot = `${bucket}:${id}`
    if (this.pending.has(slot)) return
    if (this.pending.size >= this.maxPending) {
      const oldest = this.pending.keys().next().value
      if (oldest !== undefined) this.pending.delete(oldest)
      this.dropped++
    }
    this.pending.set(slot, [bucket, id])
  }

  private matches (id: number): boolean {
    const filter = this.options.filter
    if (filter === undefined) return true
    let ok = this.decided.get(id)
    if (ok === undefined) {
      const key = this.store.keyOf(id)
      ok = key !== undefined && matchesFlowKey(filter, key)
      // Key ids are never reused, so a cached decision stays right; the cap only bounds memory.
      if (this.decided.size >= 100_000) this.decided.clear()
      this.decided.set(id, ok)
    }
    return ok
  }
}
