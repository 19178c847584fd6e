// The obvious List: aggregate every entry in range into a Map (oldest bucket first), sort everything, slice the
// page. It is FlowStore.list as it was before its top-K selection, written against the store's public
// forEachInRange only, so it serves both as the pipeline benchmark's baseline and as the reference the store's
// property test compares the selection path with.
import { pageOf, type FlowListQuery, type FlowResultEntry, type FlowSortBy, type FlowStore, type ListPage } from '../../agent/src/aggregator/flow-store.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'

interface Aggregate {
  id: number
  key: FlowKey
  windowStart: number
  flow: Omit<FlowLog, 'key'>
  startTime: number
}

const TYPE_ORDER: Readonly<Record<string, number>> = { WorkloadEndpoint: 1, HostEndpoint: 2, NetworkSet: 3, Network: 4 }

function fieldValue (key: FlowKey, by: Exclude<FlowSortBy, 'Time'>): string | number {
  switch (by) {
    case 'DestName': return key.destName
    case 'DestNamespace': return key.destNamespace
    case 'DestType': return TYPE_ORDER[key.destType] ?? 0
    case 'SourceName': return key.sourceName
    case 'SourceNamespace': return key.sourceNamespace
    case 'SourceType': return TYPE_ORDER[key.sourceType] ?? 0
  }
}

function compareValues (a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return a < b ? -1 : a > b ? 1 : 0
}

function intersect (a: readonly string[], b: readonly string[]): readonly string[] {
  const set = new Set(b)
  return a.filter(x => set.has(x))
}

/** FlowStore.list computed the naive way (same results, by definition of the List order). */
export function naiveFlowList (store: FlowStore, query: FlowListQuery = {}): ListPage<FlowResultEntry> {
  const interval = query.aggregationIntervalSeconds ?? 0
  const aggregated = new Map<string, Aggregate>()
  store.forEachInRange(store.range(query), query.filter, (bucketStart, entry, stored) => {
    const windowStart = interval > 0 ? Math.floor(bucketStart / interval) * interval : 0
    const slot = `${entry.id}/${windowStart}`
    const into = aggregated.get(slot)
    if (into === undefined) {
      aggregated.set(slot, {
        id: entry.id,
        key: entry.key,
        windowStart,
        startTime: interval > 0 ? windowStart : stored.startTime,
        flow: {
          startTime: stored.startTime,
          endTime: stored.endTime,
          sourceLabels: stored.sourceLabels,
          destLabels: stored.destLabels,
          packetsIn: stored.packetsIn,
          packetsOut: stored.packetsOut,
          bytesIn: stored.bytesIn,
          bytesOut: stored.bytesOut,
          connectionsStarted: stored.connectionsStarted,
          connectionsCompleted: stored.connectionsCompleted,
          connectionsLive: stored.connectionsLive
        }
      })
      return
    }
    const f = into.flow
    f.packetsIn += stored.packetsIn
    f.packetsOut += stored.packetsOut
    f.bytesIn += stored.bytesIn
    f.bytesOut += stored.bytesOut
    f.connectionsStarted += stored.connectionsStarted
    f.connectionsCompleted += stored.connectionsCompleted
    f.connectionsLive += stored.connectionsLive
    into.flow = {
      ...f,
      startTime: Math.min(f.startTime, stored.startTime),
      endTime: Math.max(f.endTime, stored.endTime),
      sourceLabels: intersect(f.sourceLabels, stored.sourceLabels),
      destLabels: intersect(f.destLabels, stored.destLabels)
    }
    if (interval === 0) into.startTime = into.flow.startTime
  })
  const sortBy = query.sortBy ?? []
  const all = [...aggregated.values()].sort((a, b) => {
    for (const field of sortBy) {
      const c = field === 'Time' ? b.startTime - a.startTime : compareValues(fieldValue(a.key, field), fieldValue(b.key, field))
      if (c !== 0) return c
    }
    return (b.startTime - a.startTime) || (a.id - b.id)
  })
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
