// The aggregator's flow store: Goldmane-shaped flow logs from every node, merged per FlowKey into 15 s buckets
// over a retention window. Pure (no I/O, no timers): the clock is injected and expiry happens lazily on every
// ingest and query, so tests drive time explicitly.
//
// Memory is bounded by `maxFlows` stored (bucket, key) entries. When a new entry would exceed it, the oldest
// buckets are evicted whole (newest data is what operators ask for), and counted; an entry older than every
// bucket that could be evicted is dropped instead, also counted.
import { FLOW_INTERVAL_SECONDS, type FlowKey, type FlowLog, type FlowStats } from '../flows/flow-log.js'
import { matchesFlowKey, type FlowFilter } from '../flows/flow-filter.js'
import { flowKeyIdentity } from './flow-key-identity.js'
import { inTimeRange, resolveTimeRange, type TimeRange } from './time-range.js'

/** Goldmane's SortBy, in domain form. */
export type FlowSortBy = 'Time' | 'DestName' | 'DestNamespace' | 'DestType' | 'SourceName' | 'SourceNamespace' | 'SourceType'

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

interface Bucket {
  readonly startSeconds: number
  readonly flows: Map<number, StoredFlow>
}

interface KeyEntry {
  readonly id: number
  readonly identity: string
  readonly key: FlowKey
  /** Buckets holding this key; the entry is forgotten at 0 so ids never outlive their data. */
  buckets: number
}

/** One List result while it is being built: `flow` is the stored entry itself until a second one merges in. */
interface Aggregate {
  readonly id: number
  readonly windowStart: number
  readonly key: FlowKey
  flow: Readonly<StoredFlow>
  owned: boolean
  /** What Time sorts by. */
  startTime: number
}

const BUCKET = FLOW_INTERVAL_SECONDS
// Window index range per key in a numeric slot (id × WINDOW_SLOTS + window): far more windows than a retention holds.
const WINDOW_SLOTS = 1_000_000
const ENDPOINT_TYPE_ORDER: Readonly<Record<string, number>> = { WorkloadEndpoint: 1, HostEndpoint: 2, NetworkSet: 3, Network: 4 }

/** The start of the 15 s bucket holding `seconds`. */
export function bucketStartOf (seconds: number): number {
  return Math.floor(seconds / BUCKET) * BUCKET
}

function intersect (a: readonly string[], b: readonly string[]): readonly string[] {
  if (a.length === 0) return a
  const set = new Set(b)
  return a.filter(x => set.has(x))
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

function sortValue (key: FlowKey, by: Exclude<FlowSortBy, 'Time'>): string | number {
  switch (by) {
    case 'DestName': return key.destName
    case 'DestNamespace': return key.destNamespace
    case 'DestType': return ENDPOINT_TYPE_ORDER[key.destType] ?? 0
    case 'SourceName': return key.sourceName
    case 'SourceNamespace': return key.sourceNamespace
    case 'SourceType': return ENDPOINT_TYPE_ORDER[key.sourceType] ?? 0
  }
}

function compareValues (a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
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
      existing.endTime = Math.max(existing.endTime, flow.endTime)
      existing.sourceLabels = intersect(existing.sourceLabels, flow.sourceLabels)
      existing.destLabels = intersect(existing.destLabels, flow.destLabels)
      this.counters.merged++
      this.notify(start, known.id)
      return 'merged'
    }
    if (this.storedFlows >= this.maxFlows && !this.makeRoom(start)) { this.counters.droppedFull++; return 'dropped-full' }
    if (bucket === undefined) {
      bucket = { startSeconds: start, flows: new Map() }
      this.buckets.set(start, bucket)
      this.insertOrder(start)
    }
    let entry = known
    if (entry === undefined) {
      entry = { id: this.nextKeyId++, identity, key: flow.key, buckets: 0 }
      this.keysByIdentity.set(identity, entry)
      this.keysById.set(entry.id, entry)
    }
    entry.buckets++
    bucket.flows.set(entry.id, {
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
      connectionsLive: flow.connectionsLive
    })
    this.storedFlows++
    this.counters.added++
    this.notify(start, entry.id)
    return 'added'
  }

  /** Flows in a time range, filtered, aggregated per key (and window), sorted and paged. */
  list (query: FlowListQuery = {}): ListPage<FlowResultEntry> {
    const interval = query.aggregationIntervalSeconds ?? 0
    const range = this.range(query)
    // Numeric slots and no copies until a second bucket merges in: a List over a million entries allocates
    // one small record per result, and full flow logs only for the page returned.
    const aggregated = new Map<number, Aggregate>()
    this.forEachInRange(range, query.filter, (bucketStart, entry, stored) => {
      const windowStart = interval > 0 ? Math.floor(bucketStart / interval) * interval : 0
      const slot = interval > 0 ? entry.id * WINDOW_SLOTS + (windowStart / interval) % WINDOW_SLOTS : entry.id
      const into = aggregated.get(slot)
      if (into === undefined) {
        aggregated.set(slot, { id: entry.id, windowStart, key: entry.key, flow: stored, owned: false, startTime: stored.startTime })
        return
      }
      if (!into.owned) { into.flow = { ...into.flow }; into.owned = true }
      const flow = into.flow as StoredFlow
      addStats(flow, stored)
      flow.startTime = Math.min(flow.startTime, stored.startTime)
      flow.endTime = Math.max(flow.endTime, stored.endTime)
      flow.sourceLabels = intersect(flow.sourceLabels, stored.sourceLabels)
      flow.destLabels = intersect(flow.destLabels, stored.destLabels)
      // A windowed result is dated by its window; an unwindowed one by its data.
      into.startTime = interval > 0 ? windowStart : flow.startTime
    })
    const all = [...aggregated.values()]
    if (interval > 0) for (const a of all) a.startTime = a.windowStart
    all.sort(comparatorOf(query.sortBy ?? []))
    const page = pageOf(all, query.page ?? 0, query.pageSize ?? 0)
    return {
      totalPages: page.totalPages,
      totalResults: page.totalResults,
      items: page.items.map(a => ({
        id: a.id,
        flow: {
          ...a.flow,
          key: a.key,
          startTime: interval > 0 ? a.windowStart : a.flow.startTime,
          endTime: interval > 0 ? a.windowStart + interval : a.flow.endTime
        }
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
    // The filter depends on the key only: decide once per key, not once per bucket.
    const decided = new Map<number, boolean>()
    for (const start of this.order) {
      if (start + BUCKET <= range.fromSeconds || start >= range.toSeconds) continue
      const bucket = this.buckets.get(start)
      if (bucket === undefined) continue
      for (const [id, stored] of bucket.flows) {
        if (!inTimeRange(range, stored.startTime)) continue
        const entry = this.keysById.get(id)
        if (entry === undefined) continue
        if (filter !== undefined) {
          let ok = decided.get(id)
          if (ok === undefined) { ok = matchesFlowKey(filter, entry.key); decided.set(id, ok) }
          if (!ok) continue
        }
        visit(start, entry, stored)
      }
    }
  }

  /** The current content of one (bucket, key) entry as a flow log, for live streams. */
  entry (bucketStartSeconds: number, keyId: number): FlowResultEntry | undefined {
    const stored = this.buckets.get(bucketStartSeconds)?.flows.get(keyId)
    const key = this.keysById.get(keyId)
    if (stored === undefined || key === undefined) return undefined
    return { id: keyId, flow: { ...stored, key: key.key } }
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
    for (const id of bucket.flows.keys()) {
      const entry = this.keysById.get(id)
      if (entry === undefined) continue
      if (--entry.buckets === 0) {
        this.keysById.delete(id)
        this.keysByIdentity.delete(entry.identity)
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

/** Sort: the requested fields in order, then newest first, then id (so pages are stable). */
function comparatorOf (sortBy: readonly FlowSortBy[]): (a: Aggregate, b: Aggregate) => number {
  return (a, b) => {
    for (const field of sortBy) {
      const c = field === 'Time'
        ? b.startTime - a.startTime
        : compareValues(sortValue(a.key, field), sortValue(b.key, field))
      if (c !== 0) return c
    }
    return (b.startTime - a.startTime) || (a.id - b.id)
  }
}
