// The aggregator's flow store: Goldmane-shaped flow logs from every node, merged per FlowKey into 15 s buckets
// over a retention window. Pure (no I/O, no timers): the clock is injected and expiry happens lazily on every
// ingest and query, so tests drive time explicitly.
//
// Memory is bounded by `maxFlows` stored (bucket, key) entries. When a new entry would exceed it, the oldest
// buckets are evicted whole (newest data is what operators ask for), and counted; an entry older than every
// bucket that could be evicted is dropped instead, also counted.
import { FLOW_INTERVAL_SECONDS, sharedLabels, type FlowKey, type FlowLog, type FlowStats } from '../flows/flow-log.js'
import type { FlowFilter } from '../flows/flow-filter.js'
import { flowKeyIdentity } from './flow-key-identity.js'
import { KeyColumns, type ColumnSortBy, type SlotPredicate } from './key-columns.js'
import { inTimeRange, resolveTimeRange, type TimeRange } from './time-range.js'
import { TopSelection } from './top-selection.js'

/** Goldmane's SortBy, in domain form. */
export type FlowSortBy = ColumnSortBy

/** Goldmane's FilterType (without the `FilterType` prefix and the unspecified value). */
export type FilterHintType = 'DestName' | 'SourceName' | 'DestNamespace' | 'SourceNamespace' | 'PolicyTier' | 'PolicyName'

/** Construction options of a FlowStore. */
export interface FlowStoreOptions {
  /** How far back flows are kept (default 3600 s). */
  retentionSeconds?: number
  /** Bound on stored (bucket, key) entries (default 1,000,000). */
  maxFlows?: number
  /** The clock, in Unix seconds (fractions allowed); injected for tests. */
  nowSeconds?: () => number
}

/** A query's time range in Goldmane's convention (0 = unbounded, negative = relative to now). */
export interface TimeRangeQuery {
  startTimeGte?: number
  startTimeLt?: number
}

/** FlowStore.list's query: Goldmane's FlowListRequest in domain form. */
export interface FlowListQuery extends TimeRangeQuery {
  /** 0-based page; needs pageSize. */
  page?: number
  /** 0 = everything on one page. */
  pageSize?: number
  sortBy?: readonly FlowSortBy[]
  filter?: FlowFilter
  /** 0 = one result per key over the whole range; otherwise a multiple of 15 s: one result per key per window. */
  aggregationIntervalSeconds?: number
}

/** A flow with its stable id (1:1 with its FlowKey while the key is stored). */
export interface FlowResultEntry {
  readonly id: number
  readonly flow: FlowLog
}

/** One page of results and the totals Goldmane's ListMetadata reports. */
export interface ListPage<T> {
  readonly totalPages: number
  readonly totalResults: number
  readonly items: readonly T[]
}

/** FlowStore.filterHints' query. */
export interface FilterHintsQuery extends TimeRangeQuery {
  type: FilterHintType
  filter?: FlowFilter
  page?: number
  pageSize?: number
}

/** What ingest did with one flow log. */
export type IngestOutcome = 'added' | 'merged' | 'too-old' | 'dropped-full'

/** The store's counters (exported as metrics by the aggregator). */
export interface FlowStoreCounters {
  /** Flow logs that created a new (bucket, key) entry. */
  added: number
  /** Flow logs merged into an existing entry (same key from another node or another interval in the bucket). */
  merged: number
  /** Flow logs older than the retention window, not stored. */
  rejectedTooOld: number
  /** Flow logs not stored because the store was full of newer data. */
  droppedFull: number
  /** Buckets and entries removed because they left the retention window. */
  expiredBuckets: number
  expiredFlows: number
  /** Buckets and entries removed early to stay under maxFlows. */
  evictedBuckets: number
  evictedFlows: number
}

/** Receives (bucket start, key id) each time an entry is added or merged into. */
export type FlowStoreListener = (bucketStartSeconds: number, keyId: number) => void

interface StoredFlow extends FlowStats {
  startTime: number
  endTime: number
  sourceLabels: readonly string[]
  destLabels: readonly string[]
}

/** A bucket's entry: its counters, its key (a direct reference, no lookup by id) and its place in the bucket. */
interface BucketFlow extends StoredFlow {
  readonly keyEntry: KeyEntry
  readonly index: number
}

/**
 * One 15 s bucket. Entries are only ever appended (a bucket leaves whole), so next to the lookup by key id it
 * keeps them in arrays: the key slot and start time of entry i in typed arrays a List scans without touching
 * the entry objects.
 */
interface Bucket {
  readonly startSeconds: number
  readonly flows: Map<number, BucketFlow>
  readonly entries: BucketFlow[]
  slots: Int32Array
  starts: Float64Array
}

interface KeyEntry {
  readonly id: number
  readonly identity: string
  readonly key: FlowKey
  /** The key's slot in the store's KeyColumns (which also counts the buckets holding it). */
  readonly slot: number
}

/** One List result while it is being built: `flow` is the stored entry itself until a second one merges in. */
interface Aggregate {
  readonly id: number
  readonly slot: number
  readonly key: FlowKey
  readonly windowStart: number
  flow: Readonly<StoredFlow>
  owned: boolean
  /** What Time sorts by: the window start of a windowed result, else the earliest start of its data. */
  startTime: number
}

const BUCKET = FLOW_INTERVAL_SECONDS
// Window index range per key in a numeric slot (id × WINDOW_SLOTS + window): far more windows than a retention holds.
const WINDOW_SLOTS = 1_000_000

/** The start of the 15 s bucket holding `seconds`. */
export function bucketStartOf (seconds: number): number {
  return Math.floor(seconds / BUCKET) * BUCKET
}

function addStats (into: FlowStats, from: FlowStats): void {
  into.packetsIn += from.packetsIn
  into.packetsOut += from.packetsOut
  into.bytesIn += from.bytesIn
  into.bytesOut += from.bytesOut
  into.connectionsStarted += from.connectionsStarted
  into.connectionsCompleted += from.connectionsCompleted
  into.connectionsLive += from.connectionsLive
}

/** A copy of stored counters a List result can own (and merge into). */
function copyStored (flow: Readonly<StoredFlow>): StoredFlow {
  return {
    startTime: flow.startTime,
    endTime: flow.endTime,
    sourceLabels: flow.sourceLabels,
    destLabels: flow.destLabels,
    packetsIn: flow.packetsIn,
    packetsOut: flow.packetsOut,
    bytesIn: flow.bytesIn,
    bytesOut: flow.bytesOut,
    connectionsStarted: flow.connectionsStarted,
    connectionsCompleted: flow.connectionsCompleted,
    connectionsLive: flow.connectionsLive
  }
}

/** A stored entry (or a List aggregate) as a flow log; built field by field so no internal field leaks out. */
function toFlowLog (key: FlowKey, flow: Readonly<StoredFlow>, startTime: number, endTime: number): FlowLog {
  return {
    key,
    startTime,
    endTime,
    sourceLabels: flow.sourceLabels,
    destLabels: flow.destLabels,
    packetsIn: flow.packetsIn,
    packetsOut: flow.packetsOut,
    bytesIn: flow.bytesIn,
    bytesOut: flow.bytesOut,
    connectionsStarted: flow.connectionsStarted,
    connectionsCompleted: flow.connectionsCompleted,
    connectionsLive: flow.connectionsLive
  }
}

/** Pages `items` (0-based page; pageSize 0 = one page with everything). */
export function pageOf<T> (items: readonly T[], page: number, pageSize: number): ListPage<T> {
  if (pageSize <= 0) return { totalPages: items.length > 0 ? 1 : 0, totalResults: items.length, items: page === 0 ? items : [] }
  return {
    totalPages: Math.ceil(items.length / pageSize),
    totalResults: items.length,
    items: items.slice(page * pageSize, (page + 1) * pageSize)
  }
}

/** Flow logs merged per key into 15 s buckets over a retention window, with bounded memory. */
export class FlowStore {
  readonly retentionSeconds: number
  readonly maxFlows: number
  readonly nowSeconds: () => number
  private readonly counters: FlowStoreCounters = { added: 0, merged: 0, rejectedTooOld: 0, droppedFull: 0, expiredBuckets: 0, expiredFlows: 0, evictedBuckets: 0, evictedFlows: 0 }
  private readonly buckets = new Map<number, Bucket>()
  /** Bucket starts, ascending; buckets are few (retention / 15 s), so a sorted array is cheap. */
  private readonly order: number[] = []
  private readonly keysByIdentity = new Map<string, KeyEntry>()
  private readonly keysById = new Map<number, KeyEntry>()
  private readonly listeners = new Set<FlowStoreListener>()
  private readonly columns = new KeyColumns()
  private nextKeyId = 1
  private storedFlows = 0

  constructor (options: FlowStoreOptions = {}) {
    this.retentionSeconds = options.retentionSeconds ?? 3600
    this.maxFlows = options.maxFlows ?? 1_000_000
    this.nowSeconds = options.nowSeconds ?? (() => Date.now() / 1000)
    if (!(this.retentionSeconds >= BUCKET)) throw new RangeError(`retentionSeconds must be at least ${BUCKET}`)
    if (!(this.maxFlows >= 1)) throw new RangeError('maxFlows must be at least 1')
  }

  /** Number of stored (bucket, key) entries. */
  get size (): number { return this.storedFlows }

  /** Number of distinct keys stored. */
  get keyCount (): number { return this.keysById.size }

  /** A snapshot of the counters. */
  stats (): Readonly<FlowStoreCounters> { return { ...this.counters } }

  /** Start of the oldest and newest stored bucket (undefined when empty). */
  bucketSpan (): { oldest: number, newest: number } | undefined {
    const oldest = this.order[0]
    const newest = this.order[this.order.length - 1]
    return oldest === undefined || newest === undefined ? undefined : { oldest, newest }
  }

  /** Registers a listener for new and updated entries; returns the function that removes it. */
  subscribe (listener: FlowStoreListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * Adds one flow log: merged with the same key in its bucket (counters added, labels intersected).
   * `identity` is flowKeyIdentity(flow.key), passed when the caller computed it already.
   */
  ingest (flow: FlowLog, identity: string = flowKeyIdentity(flow.key)): IngestOutcome {
    const now = this.nowSeconds()
    this.expire(now)
    const start = bucketStartOf(flow.startTime)
    if (start + BUCKET <= now - this.retentionSeconds) { this.counters.rejectedTooOld++; return 'too-old' }
    let bucket = this.buckets.get(start)
    const known = this.keysByIdentity.get(identity)
    const existing = known === undefined ? undefined : bucket?.flows.get(known.id)
    if (existing !== undefined && known !== undefined) {
      addStats(existing, flow)
      existing.startTime = Math.min(existing.startTime, flow.startTime)
      ;(bucket as Bucket).starts[existing.index] = existing.startTime
      existing.endTime = Math.max(existing.endTime, flow.endTime)
      existing.sourceLabels = sharedLabels(existing.sourceLabels, flow.sourceLabels)
      existing.destLabels = sharedLabels(existing.destLabels, flow.destLabels)
      this.counters.merged++
      this.notify(start, known.id)
      return 'merged'
    }
    if (this.storedFlows >= this.maxFlows && !this.makeRoom(start)) { this.counters.droppedFull++; return 'dropped-full' }
    if (bucket === undefined) {
      bucket = { startSeconds: start, flows: new Map(), entries: [], slots: new Int32Array(64), starts: new Float64Array(64) }
      this.buckets.set(start, bucket)
      this.insertOrder(start)
    }
    let entry = known
    if (entry === undefined) {
      const id = this.nextKeyId++
      entry = { id, identity, key: flow.key, slot: this.columns.add(flow.key, id) }
      this.keysByIdentity.set(identity, entry)
      this.keysById.set(entry.id, entry)
    }
    const counts = this.columns.bucketCounts
    counts[entry.slot] = (counts[entry.slot] as number) + 1
    const index = bucket.entries.length
    if (index === bucket.slots.length) {
      const slots = new Int32Array(index * 2); slots.set(bucket.slots); bucket.slots = slots
      const starts = new Float64Array(index * 2); starts.set(bucket.starts); bucket.starts = starts
    }
    bucket.slots[index] = entry.slot
    bucket.starts[index] = flow.startTime
    const stored: BucketFlow = {
      startTime: flow.startTime,
      endTime: flow.endTime,
      sourceLabels: [...flow.sourceLabels],
      destLabels: [...flow.destLabels],
      packetsIn: flow.packetsIn,
      packetsOut: flow.packetsOut,
      bytesIn: flow.bytesIn,
      bytesOut: flow.bytesOut,
      connectionsStarted: flow.connectionsStarted,
      connectionsCompleted: flow.connectionsCompleted,
      connectionsLive: flow.connectionsLive,
      keyEntry: entry,
      index
    }
    bucket.entries.push(stored)
    bucket.flows.set(entry.id, stored)
    this.storedFlows++
    this.counters.added++
    this.notify(start, entry.id)
    return 'added'
  }

  /**
   * Flows in a time range, filtered, aggregated per key (and window), sorted and paged.
   *
   * One pass over the entries in range, newest bucket first, counts every result but keeps only the
   * (page + 1) × pageSize first in List order (TopSelection). The pass reads the buckets' typed arrays and the
   * key columns (filter and order compiled once per distinct value, see key-columns.ts); an entry object is
   * touched only when it enters the selection. Newest first means a Time-sorted page fills early and older
   * entries are rejected by one comparison. A key held by one bucket is a result by itself; only keys spread
   * over several buckets are merged (through a Map) before they are offered.
   */
  list (query: FlowListQuery = {}): ListPage<FlowResultEntry> {
    const interval = query.aggregationIntervalSeconds ?? 0
    const range = this.range(query)
    this.expire(this.nowSeconds())
    const page = query.page ?? 0
    const pageSize = query.pageSize ?? 0
    // page_size 0: everything on page 0, nothing on later pages (pageOf's convention).
    const limit = pageSize > 0 ? (page + 1) * pageSize : page === 0 ? Infinity : 0
    const columns = this.columns
    const order = columns.compileOrder(query.sortBy ?? [])
    const compare = order.compare
    const lead = order.lead
    const timeFirst = order.timeFirst
    const matches: SlotPredicate | undefined = query.filter === undefined ? undefined : columns.compileFilter(query.filter)
    const selection = new TopSelection<Aggregate>(limit, compare)
    const bucketCounts = columns.bucketCounts
    const ids = columns.ids
    const probe = { slot: 0, id: 0, startTime: 0 }
    const merging = new Map<number, Aggregate>()
    let total = 0
    for (let b = this.order.length - 1; b >= 0; b--) {
      const start = this.order[b] as number
      if (start + BUCKET <= range.fromSeconds || start >= range.toSeconds) continue
      const bucket = this.buckets.get(start)
      if (bucket === undefined) continue
      // Entries start inside their bucket, so a bucket inside the range needs no per-entry time check.
      const whole = start >= range.fromSeconds && start + BUCKET <= range.toSeconds
      const windowStart = interval > 0 ? Math.floor(start / interval) * interval : 0
      const { slots, starts, entries } = bucket
      const n = entries.length
      for (let i = 0; i < n; i++) {
        const entryStart = starts[i] as number
        if (!whole && !(entryStart >= range.fromSeconds && entryStart < range.toSeconds)) continue
        const slot = slots[i] as number
        if (matches !== undefined && !matches(slot)) continue
        if (bucketCounts[slot] === 1) {
          total++
          const startTime = interval > 0 ? windowStart : entryStart
          const threshold = selection.threshold
          if (threshold !== undefined) {
            // Most entries are decided by the order's first criterion alone, without a call.
            const c = lead !== undefined
              ? (lead[slot] as number) - (lead[threshold.slot] as number)
              : timeFirst ? threshold.startTime - startTime : 0
            if (c > 0) continue
            if (c === 0) {
              probe.slot = slot; probe.id = ids[slot] as number; probe.startTime = startTime
              if (compare(probe, threshold) >= 0) continue
            }
          }
          const stored = entries[i] as BucketFlow
          selection.offer({ id: stored.keyEntry.id, slot, key: stored.keyEntry.key, windowStart, flow: stored, owned: false, startTime })
          continue
        }
        const stored = entries[i] as BucketFlow
        const merge = interval > 0 ? slot * WINDOW_SLOTS + (windowStart / interval) % WINDOW_SLOTS : slot
        const into = merging.get(merge)
        if (into === undefined) {
          const entry = stored.keyEntry
          merging.set(merge, { id: entry.id, slot, key: entry.key, windowStart, flow: stored, owned: false, startTime: interval > 0 ? windowStart : stored.startTime })
          continue
        }
        if (!into.owned) { into.flow = copyStored(into.flow); into.owned = true }
        const flow = into.flow as StoredFlow
        addStats(flow, stored)
        flow.startTime = Math.min(flow.startTime, stored.startTime)
        flow.endTime = Math.max(flow.endTime, stored.endTime)
        // Buckets are walked newest first: intersecting into the older side keeps the oldest entry's label
        // order, as a merge in time order does.
        flow.sourceLabels = sharedLabels(stored.sourceLabels, flow.sourceLabels)
        flow.destLabels = sharedLabels(stored.destLabels, flow.destLabels)
        if (interval === 0) into.startTime = flow.startTime
      }
    }
    for (const a of merging.values()) { total++; selection.offer(a) }
    const kept = selection.sorted()
    const items = pageSize > 0 ? kept.slice(page * pageSize) : kept
    return {
      totalPages: pageSize > 0 ? Math.ceil(total / pageSize) : total > 0 ? 1 : 0,
      totalResults: total,
      items: items.map(a => ({
        id: a.id,
        flow: toFlowLog(a.key, a.flow,
          interval > 0 ? a.windowStart : a.flow.startTime,
          interval > 0 ? a.windowStart + interval : a.flow.endTime)
      }))
    }
  }

  /** Distinct values of one field among the flows matching a filter in a range, ascending, paged. */
  filterHints (query: FilterHintsQuery): ListPage<string> {
    const values = new Set<string>()
    const seenKeys = new Set<number>()
    this.forEachInRange(this.range(query), query.filter, (_bucket, entry) => {
      if (seenKeys.has(entry.id)) return
      seenKeys.add(entry.id)
      const key = entry.key
      switch (query.type) {
        case 'DestName': values.add(key.destName); break
        case 'SourceName': values.add(key.sourceName); break
        case 'DestNamespace': values.add(key.destNamespace); break
        case 'SourceNamespace': values.add(key.sourceNamespace); break
        case 'PolicyTier':
        case 'PolicyName':
          for (const hit of [...key.policies.enforced, ...key.policies.pending]) {
            const value = query.type === 'PolicyTier' ? hit.tier : hit.name
            values.add(value)
          }
          break
      }
    })
    values.delete('')
    return pageOf([...values].sort(), query.page ?? 0, query.pageSize ?? 0)
  }

  /**
   * Calls `visit` for every stored entry whose start lies in `range` and whose key matches `filter`, oldest
   * bucket first. Entries are live: visitors must not keep or change them.
   */
  forEachInRange (range: TimeRange, filter: FlowFilter | undefined, visit: (bucketStart: number, key: { readonly id: number, readonly key: FlowKey }, flow: Readonly<StoredFlow>) => void): void {
    this.expire(this.nowSeconds())
    // The filter depends on the key only: compiled once over the distinct values of the stored keys.
    const matches = filter === undefined ? undefined : this.columns.compileFilter(filter)
    for (const start of this.order) {
      if (start + BUCKET <= range.fromSeconds || start >= range.toSeconds) continue
      const bucket = this.buckets.get(start)
      if (bucket === undefined) continue
      for (const stored of bucket.entries) {
        if (!inTimeRange(range, stored.startTime)) continue
        const entry = stored.keyEntry
        if (matches !== undefined && !matches(entry.slot)) continue
        visit(start, entry, stored)
      }
    }
  }

  /** The current content of one (bucket, key) entry as a flow log, for live streams. */
  entry (bucketStartSeconds: number, keyId: number): FlowResultEntry | undefined {
    const stored = this.buckets.get(bucketStartSeconds)?.flows.get(keyId)
    if (stored === undefined) return undefined
    return { id: keyId, flow: toFlowLog(stored.keyEntry.key, stored, stored.startTime, stored.endTime) }
  }

  /** The key of a stored id, if still stored. */
  keyOf (keyId: number): FlowKey | undefined {
    return this.keysById.get(keyId)?.key
  }

  /** Every (bucket start, key id) of the buckets that end after `fromSeconds`, oldest first (a stream's backlog). */
  entriesSince (fromSeconds: number): Array<[number, number]> {
    this.expire(this.nowSeconds())
    const out: Array<[number, number]> = []
    for (const start of this.order) {
      if (start + BUCKET <= fromSeconds) continue
      const bucket = this.buckets.get(start)
      if (bucket === undefined) continue
      for (const id of bucket.flows.keys()) out.push([start, id])
    }
    return out
  }

  /** Resolves a query's Goldmane time range against the store's clock. */
  range (query: TimeRangeQuery): TimeRange {
    return resolveTimeRange(query.startTimeGte ?? 0, query.startTimeLt ?? 0, this.nowSeconds())
  }

  /** Removes buckets that left the retention window (also done lazily by every ingest and query). */
  expire (nowSeconds: number): void {
    const cutoff = nowSeconds - this.retentionSeconds
    for (;;) {
      const oldest = this.order[0]
      if (oldest === undefined || oldest + BUCKET > cutoff) return
      const removed = this.removeOldest()
      this.counters.expiredBuckets++
      this.counters.expiredFlows += removed
    }
  }

  /** Evicts buckets older than `forBucket` until one entry fits; false when only newer data is left. */
  private makeRoom (forBucket: number): boolean {
    while (this.storedFlows >= this.maxFlows) {
      const oldest = this.order[0]
      if (oldest === undefined || oldest >= forBucket) return false
      const removed = this.removeOldest()
      this.counters.evictedBuckets++
      this.counters.evictedFlows += removed
    }
    return true
  }

  private removeOldest (): number {
    const start = this.order.shift()
    if (start === undefined) return 0
    const bucket = this.buckets.get(start)
    this.buckets.delete(start)
    if (bucket === undefined) return 0
    const bucketCounts = this.columns.bucketCounts
    for (const stored of bucket.entries) {
      const entry = stored.keyEntry
      const left = (bucketCounts[entry.slot] as number) - 1
      bucketCounts[entry.slot] = left
      if (left === 0) {
        this.keysById.delete(entry.id)
        this.keysByIdentity.delete(entry.identity)
        this.columns.remove(entry.slot)
      }
    }
    this.storedFlows -= bucket.flows.size
    return bucket.flows.size
  }

  private insertOrder (start: number): void {
    // Nearly always appended (data arrives in time order); out-of-order buckets are found by a backward scan.
    let i = this.order.length
    while (i > 0 && (this.order[i - 1] as number) > start) i--
    this.order.splice(i, 0, start)
  }

  private notify (bucketStart: number, keyId: number): void {
    for (const listener of this.listeners) listener(bucketStart, keyId)
  }
}
