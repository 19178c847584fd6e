// FlowStore: merging per key and bucket, retention and counted eviction, Goldmane's time-range semantics,
// paging, sorting, filters, aggregation intervals and filter hints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FlowStore, pageOf, type FlowSortBy } from '../../agent/src/aggregator/flow-store.js'
import { resolveTimeRange } from '../../agent/src/aggregator/time-range.js'
import { flowFilter } from '../../agent/src/flows/flow-filter.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const T0 = 1_700_000_000
const BASE = Math.floor(T0 / 15) * 15

function hit (fields: Partial<PolicyHit> = {}): PolicyHit {
  return { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'allow-web', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0, ...fields }
}

function key (fields: Partial<FlowKey> = {}): FlowKey {
  return {
    sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint',
    destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint', destPort: 8080,
    destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0,
    proto: 'tcp', reporter: 'Src', action: 'Allow',
    policies: { enforced: [hit()], pending: [hit()] },
    ...fields
  }
}

function flow (start: number, fields: Partial<FlowKey> = {}, stats: Partial<FlowLog> = {}): FlowLog {
  return {
    key: key(fields), startTime: start, endTime: start + 15, sourceLabels: ['app=web'], destLabels: ['app=api'],
    packetsIn: 1, packetsOut: 2, bytesIn: 100, bytesOut: 200, connectionsStarted: 1, connectionsCompleted: 0, connectionsLive: 1,
    ...stats
  }
}

function storeAt (now: { t: number }, options: { retentionSeconds?: number, maxFlows?: number } = {}): FlowStore {
  return new FlowStore({ ...options, nowSeconds: () => now.t })
}

test('the same key in one bucket is merged: counters added, times widened, labels intersected', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  assert.equal(store.ingest(flow(BASE, {}, { sourceLabels: ['app=web', 'tier=front'] })), 'added')
  assert.equal(store.ingest(flow(BASE + 5, {}, { sourceLabels: ['app=web'], bytesIn: 1 })), 'merged')
  assert.equal(store.size, 1)
  const [only] = store.list().items
  assert.equal(only?.flow.bytesIn, 101)
  assert.equal(only?.flow.packetsOut, 4)
  assert.equal(only?.flow.connectionsStarted, 2)
  assert.equal(only?.flow.startTime, BASE)
  assert.equal(only?.flow.endTime, BASE + 20)
  assert.deepEqual(only?.flow.sourceLabels, ['app=web'])
  assert.deepEqual(store.stats().merged, 1)
})

test('different keys, or the same key in another bucket, are separate entries', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  store.ingest(flow(BASE))
  store.ingest(flow(BASE, { reporter: 'Dst' }))
  store.ingest(flow(BASE, { policies: { enforced: [hit()], pending: [hit({ action: 'Deny', kind: 'StagedNetworkPolicy' })] } }))
  store.ingest(flow(BASE + 15))
  assert.equal(store.size, 4)
  assert.equal(store.keyCount, 3)
  // Over the whole range one result per key; the two buckets of the first key are summed.
  const page = store.list()
  assert.equal(page.totalResults, 3)
  const first = page.items.find(r => r.flow.key.reporter === 'Src' && r.flow.key.policies.pending[0]?.action === 'Allow')
  assert.equal(first?.flow.bytesOut, 400)
})

test('ids are stable per key across queries and buckets', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  store.ingest(flow(BASE))
  store.ingest(flow(BASE, { destPort: 443 }))
  const before = new Map(store.list().items.map(r => [r.flow.key.destPort, r.id]))
  store.ingest(flow(BASE + 15))
  const windowed = store.list({ aggregationIntervalSeconds: 15 }).items.filter(r => r.flow.key.destPort === 8080)
  assert.equal(windowed.length, 2)
  for (const r of windowed) assert.equal(r.id, before.get(8080))
  assert.notEqual(before.get(8080), before.get(443))
})

test('retention: flows older than the window are rejected and expired buckets are counted', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now, { retentionSeconds: 60 })
  assert.equal(store.ingest(flow(BASE + 15)), 'added')
  assert.equal(store.ingest(flow(BASE + 30)), 'added')
  assert.equal(store.ingest(flow(BASE - 60)), 'too-old')
  // now-60 = BASE+35: the bucket at BASE+15 (ended BASE+30) has left the window, the one at BASE+30 has not.
  now.t = BASE + 95
  assert.equal(store.list().totalResults, 1)
  const stats = store.stats()
  assert.equal(stats.rejectedTooOld, 1)
  assert.equal(stats.expiredBuckets, 1)
  assert.equal(stats.expiredFlows, 1)
  now.t += 1000
  assert.equal(store.list().totalResults, 0)
  assert.equal(store.size, 0)
  assert.equal(store.keyCount, 0, 'keys of expired entries are forgotten')
})

test('memory bound: the oldest buckets are evicted first, counted; older data than all is dropped, counted', () => {
  const now = { t: BASE + 300 }
  const store = storeAt(now, { maxFlows: 3 })
  store.ingest(flow(BASE, { destPort: 1 }))
  store.ingest(flow(BASE, { destPort: 2 }))
  store.ingest(flow(BASE + 15, { destPort: 3 }))
  assert.equal(store.ingest(flow(BASE + 30, { destPort: 4 })), 'added')
  assert.equal(store.size, 2)
  assert.deepEqual(store.list().items.map(r => r.flow.key.destPort).sort(), [3, 4])
  assert.equal(store.stats().evictedBuckets, 1)
  assert.equal(store.stats().evictedFlows, 2)
  // Merging into an existing entry needs no room.
  assert.equal(store.ingest(flow(BASE + 30, { destPort: 4 })), 'merged')
  store.ingest(flow(BASE + 30, { destPort: 5 }))
  assert.equal(store.size, 3)
  // Full, and the new flow is older than every bucket: dropped, not evicting newer data.
  assert.equal(store.ingest(flow(BASE, { destPort: 6 })), 'dropped-full')
  assert.equal(store.stats().droppedFull, 1)
  assert.equal(store.size, 3)
})

test('time range semantics: 0 unbounded, absolute seconds, negative relative to now', () => {
  assert.deepEqual(resolveTimeRange(0, 0, 1000), { fromSeconds: -Infinity, toSeconds: Infinity })
  assert.deepEqual(resolveTimeRange(500, 900, 1000), { fromSeconds: 500, toSeconds: 900 })
  assert.deepEqual(resolveTimeRange(-300, -60, 1000), { fromSeconds: 700, toSeconds: 940 })
  const now = { t: BASE + 600 }
  const store = storeAt(now)
  for (let i = 0; i < 10; i++) store.ingest(flow(BASE + i * 60, { destPort: i }))
  const ports = (q: { startTimeGte?: number, startTimeLt?: number }): number[] =>
    store.list(q).items.map(r => r.flow.key.destPort).sort((a, b) => a - b)
  assert.deepEqual(ports({}), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.deepEqual(ports({ startTimeGte: BASE + 120, startTimeLt: BASE + 240 }), [2, 3])
  assert.deepEqual(ports({ startTimeGte: -180 }), [7, 8, 9], 'the last three minutes: starts at BASE+420 and later')
  assert.deepEqual(ports({ startTimeLt: -480 }), [0, 1], 'starts before now-480 = BASE+120')
})

test('paging: page_size 0 is everything; pages are 0-based with totals', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  for (let i = 0; i < 7; i++) store.ingest(flow(BASE, { destPort: 100 + i }))
  const all = store.list()
  assert.equal(all.totalPages, 1)
  assert.equal(all.items.length, 7)
  const pages = [0, 1, 2].map(page => store.list({ page, pageSize: 3 }))
  assert.deepEqual(pages.map(p => p.items.length), [3, 3, 1])
  assert.equal(pages[0]?.totalPages, 3)
  assert.equal(pages[0]?.totalResults, 7)
  const ids = pages.flatMap(p => p.items.map(r => r.id))
  assert.equal(new Set(ids).size, 7, 'pages do not overlap')
  assert.equal(store.list({ page: 5, pageSize: 3 }).items.length, 0)
  assert.deepEqual(pageOf([], 0, 0), { totalPages: 0, totalResults: 0, items: [] })
})

test('sort: Time is newest first by default; each field sorts ascending with time then id as tie-breakers', () => {
  const now = { t: BASE + 600 }
  const store = storeAt(now)
  store.ingest(flow(BASE, { sourceName: 'b', sourceNamespace: 'z', sourceType: 'Network', destName: 'c', destNamespace: 'x', destType: 'NetworkSet', destPort: 1 }))
  store.ingest(flow(BASE + 60, { sourceName: 'c', sourceNamespace: 'x', sourceType: 'HostEndpoint', destName: 'a', destNamespace: 'z', destType: 'WorkloadEndpoint', destPort: 2 }))
  store.ingest(flow(BASE + 120, { sourceName: 'a', sourceNamespace: 'y', sourceType: 'WorkloadEndpoint', destName: 'b', destNamespace: 'y', destType: 'Network', destPort: 3 }))
  const order = (sortBy: FlowSortBy[]): number[] => store.list({ sortBy }).items.map(r => r.flow.key.destPort)
  assert.deepEqual(order([]), [3, 2, 1])
  assert.deepEqual(order(['Time']), [3, 2, 1])
  assert.deepEqual(order(['DestName']), [2, 3, 1])
  assert.deepEqual(order(['DestNamespace']), [1, 3, 2])
  assert.deepEqual(order(['DestType']), [2, 1, 3], 'enum order: WorkloadEndpoint, HostEndpoint, NetworkSet, Network')
  assert.deepEqual(order(['SourceName']), [3, 1, 2])
  assert.deepEqual(order(['SourceNamespace']), [2, 3, 1])
  assert.deepEqual(order(['SourceType']), [3, 2, 1])
})

test('filters: Exact and Fuzzy names, namespaces, protocols, ports, actions, policies, pending-changed', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  const staged = hit({ kind: 'StagedNetworkPolicy', name: 'default-deny', action: 'Deny' })
  store.ingest(flow(BASE, { sourceName: 'web-*', destName: 'api-*', destPort: 8080, proto: 'tcp' }))
  store.ingest(flow(BASE, { sourceName: 'worker-*', destName: 'db-*', destNamespace: 'data', destPort: 5432, proto: 'tcp' }))
  store.ingest(flow(BASE, { sourceName: 'web-*', destName: 'dns', destNamespace: 'kube-system', destPort: 53, proto: 'udp', action: 'Deny', policies: { enforced: [hit({ action: 'Deny', name: 'deny-dns' })], pending: [hit({ action: 'Deny', name: 'deny-dns' })] } }))
  store.ingest(flow(BASE, { sourceName: 'batch-*', destName: 'api-*', destPort: 8080, policies: { enforced: [hit()], pending: [staged] } }))
  const names = (filter: Parameters<typeof flowFilter>[0]): string[] =>
    store.list({ filter: flowFilter(filter), sortBy: ['SourceName'] }).items.map(r => `${r.flow.key.sourceName}>${r.flow.key.destName}`)
  assert.deepEqual(names({ sourceNames: [{ value: 'web-*', type: 'Exact' }] }), ['web-*>api-*', 'web-*>dns'])
  assert.deepEqual(names({ sourceNames: [{ value: 'web', type: 'Exact' }] }), [])
  assert.deepEqual(names({ sourceNames: [{ value: 'or', type: 'Fuzzy' }] }), ['worker-*>db-*'])
  assert.deepEqual(names({ destNamespaces: [{ value: 'data', type: 'Exact' }, { value: 'kube-system', type: 'Exact' }] }), ['web-*>dns', 'worker-*>db-*'])
  assert.deepEqual(names({ protocols: [{ value: 'UDP', type: 'Exact' }] }), ['web-*>dns'])
  assert.deepEqual(names({ destPorts: [5432, 53] }), ['web-*>dns', 'worker-*>db-*'])
  assert.deepEqual(names({ actions: ['Deny'] }), ['web-*>dns'])
  assert.deepEqual(names({ policies: [{ name: 'default-deny' }] }), ['batch-*>api-*'])
  assert.deepEqual(names({ policies: [{ kind: 'StagedNetworkPolicy', action: 'Allow' }] }), [])
  assert.deepEqual(names({ pendingChangedOnly: true }), ['batch-*>api-*'])
  assert.deepEqual(names({ sourceNames: [{ value: 'web-*', type: 'Exact' }], destPorts: [8080] }), ['web-*>api-*'], 'fields combine with AND')
})

test('aggregation interval: consecutive buckets merge into aligned windows', () => {
  const start = Math.floor(BASE / 60) * 60
  const now = { t: start + 600 }
  const store = storeAt(now)
  for (let i = 0; i < 8; i++) store.ingest(flow(start + i * 15, {}, { bytesIn: 10 + i }))
  const perBucket = store.list({ aggregationIntervalSeconds: 15 })
  assert.equal(perBucket.totalResults, 8)
  const perMinute = store.list({ aggregationIntervalSeconds: 60 })
  assert.equal(perMinute.totalResults, 2)
  assert.deepEqual(perMinute.items.map(r => [r.flow.startTime, r.flow.endTime, r.flow.bytesIn]),
    [[start + 60, start + 120, 14 + 15 + 16 + 17], [start, start + 60, 10 + 11 + 12 + 13]])
  const whole = store.list()
  assert.equal(whole.totalResults, 1)
  assert.equal(whole.items[0]?.flow.bytesIn, 8 * 10 + 28)
  assert.equal(whole.items[0]?.flow.endTime, start + 7 * 15 + 15)
})

test('filter hints: distinct values within filter and range, sorted and paged', () => {
  const now = { t: BASE + 600 }
  const store = storeAt(now)
  store.ingest(flow(BASE, { destName: 'db-*', destNamespace: 'data', policies: { enforced: [hit({ tier: 'security', name: 'p1' })], pending: [hit({ kind: 'StagedNetworkPolicy', tier: 'default', name: 'staged-1' })] } }))
  store.ingest(flow(BASE, { destName: 'api-*' }))
  store.ingest(flow(BASE + 300, { destName: 'cache-*', sourceName: 'worker-*' }))
  assert.deepEqual(store.filterHints({ type: 'DestName' }).items, ['api-*', 'cache-*', 'db-*'])
  assert.deepEqual(store.filterHints({ type: 'DestName', startTimeGte: BASE + 300 }).items, ['cache-*'])
  assert.deepEqual(store.filterHints({ type: 'SourceName', filter: flowFilter({ destNames: [{ value: 'cache', type: 'Fuzzy' }] }) }).items, ['worker-*'])
  assert.deepEqual(store.filterHints({ type: 'DestNamespace' }).items, ['data', 'shop'])
  assert.deepEqual(store.filterHints({ type: 'PolicyTier' }).items, ['default', 'security'])
  assert.deepEqual(store.filterHints({ type: 'PolicyName' }).items, ['allow-web', 'p1', 'staged-1'])
  const page = store.filterHints({ type: 'DestName', page: 1, pageSize: 2 })
  assert.deepEqual(page, { totalPages: 2, totalResults: 3, items: ['db-*'] })
})

test('listeners hear every add and merge with the bucket and key id', () => {
  const now = { t: BASE + 60 }
  const store = storeAt(now)
  const heard: Array<[number, number]> = []
  const off = store.subscribe((bucket, id) => heard.push([bucket, id]))
  store.ingest(flow(BASE + 3))
  store.ingest(flow(BASE + 4))
  off()
  store.ingest(flow(BASE + 5))
  assert.equal(heard.length, 2)
  assert.equal(heard[0]?.[0], BASE)
  assert.deepEqual(store.entry(BASE, heard[0]?.[1] ?? -1)?.flow.bytesIn, 300)
})
