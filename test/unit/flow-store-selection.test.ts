// FlowStore.list's top-K path (TopSelection, newest bucket first, keys of one bucket taken as they are, keys of
// several buckets merged first) returns exactly what the naive List returns — aggregate everything, sort
// everything, slice — on random stores and random queries: sort fields, pages deep and shallow, filters, time
// ranges cutting buckets, aggregation intervals, keys repeated across buckets with differing labels.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FlowStore, type FlowListQuery, type FlowSortBy } from '../../agent/src/aggregator/flow-store.js'
import { TopSelection } from '../../agent/src/aggregator/top-selection.js'
import { flowFilter } from '../../agent/src/flows/flow-filter.js'
import type { EndpointType, FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import { naiveFlowList } from '../bench/naive-flow-list.js'

const BASE = Math.floor(1_700_000_000 / 60) * 60
const NOW = BASE + 600
const TYPES: EndpointType[] = ['WorkloadEndpoint', 'HostEndpoint', 'NetworkSet', 'Network']
const SORTS: FlowSortBy[] = ['Time', 'DestName', 'DestNamespace', 'DestType', 'SourceName', 'SourceNamespace', 'SourceType']
const LABELS = ['app=a', 'app=b', 'tier=x', 'env=prod', 'zone=1']

// Small alphabets so that sort fields tie often and the tie-breakers (time, then id) decide.
const keyArb: fc.Arbitrary<FlowKey> = fc.record({
  sourceName: fc.constantFrom('a', 'b', 'c'),
  sourceNamespace: fc.constantFrom('x', 'y'),
  sourceType: fc.constantFrom(...TYPES),
  destName: fc.constantFrom('a', 'b', 'c', 'd'),
  destNamespace: fc.constantFrom('x', 'y', 'z'),
  destType: fc.constantFrom(...TYPES),
  destPort: fc.constantFrom(53, 80, 443)
}).map(k => ({
  ...k,
  destServiceName: '',
  destServiceNamespace: '',
  destServicePortName: '',
  destServicePort: 0,
  proto: 'tcp',
  reporter: 'Src' as const,
  action: k.destPort === 53 ? 'Deny' as const : 'Allow' as const,
  policies: { enforced: [], pending: [] }
}))

const flowArb = (keys: readonly FlowKey[]): fc.Arbitrary<FlowLog> => fc.record({
  keyIndex: fc.nat({ max: keys.length - 1 }),
  // 0..299 s after BASE: 20 buckets, so a key often lands in several.
  offset: fc.nat({ max: 299 }),
  sourceLabels: fc.subarray(LABELS),
  destLabels: fc.shuffledSubarray(LABELS),
  bytes: fc.nat({ max: 1000 })
}).map(f => ({
  key: keys[f.keyIndex] as FlowKey,
  startTime: BASE + f.offset,
  endTime: BASE + f.offset + 1 + (f.bytes % 20),
  sourceLabels: f.sourceLabels,
  destLabels: f.destLabels,
  packetsIn: 1,
  packetsOut: 2,
  bytesIn: f.bytes,
  bytesOut: 2 * f.bytes,
  connectionsStarted: f.bytes % 2,
  connectionsCompleted: f.bytes % 3 === 0 ? 1 : 0,
  connectionsLive: 1
}))

const storeArb = fc.uniqueArray(keyArb, { minLength: 1, maxLength: 40, selector: k => JSON.stringify(k) })
  .chain(keys => fc.array(flowArb(keys), { minLength: 0, maxLength: 150 }))

const timeBoundArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: BASE - 20, max: BASE + 320 }),
  fc.integer({ min: -(NOW - BASE) - 20, max: -1 })
)

const queryArb: fc.Arbitrary<FlowListQuery> = fc.record({
  sortBy: fc.array(fc.constantFrom(...SORTS), { maxLength: 3 }),
  paging: fc.oneof(
    fc.constant({ page: 0, pageSize: 0 }),
    fc.constant({ page: 1, pageSize: 0 }),
    fc.record({ page: fc.nat({ max: 12 }), pageSize: fc.integer({ min: 1, max: 15 }) })
  ),
  startTimeGte: timeBoundArb,
  startTimeLt: timeBoundArb,
  interval: fc.constantFrom(0, 0, 15, 60),
  filter: fc.option(fc.record({
    destNames: fc.subarray([{ value: 'a', type: 'Exact' as const }, { value: 'c', type: 'Fuzzy' as const }]),
    destPorts: fc.subarray([80, 443]),
    sourceNamespaces: fc.subarray([{ value: 'x', type: 'Exact' as const }])
  }), { nil: undefined })
}).map(q => ({
  sortBy: q.sortBy,
  ...q.paging,
  startTimeGte: q.startTimeGte,
  startTimeLt: q.startTimeLt,
  aggregationIntervalSeconds: q.interval,
  ...(q.filter === undefined ? {} : { filter: flowFilter(q.filter) })
}))

function fill (flows: readonly FlowLog[]): FlowStore {
  const store = new FlowStore({ nowSeconds: () => NOW })
  for (const f of flows) store.ingest(f)
  return store
}

test('list with top-K selection equals aggregate-sort-slice on random stores and queries', () => {
  fc.assert(fc.property(storeArb, fc.array(queryArb, { minLength: 1, maxLength: 6 }), (flows, queries) => {
    const store = fill(flows)
    for (const query of queries) assert.deepEqual(store.list(query), naiveFlowList(store, query))
  }), { numRuns: 300 })
})

test('every page of a listing, concatenated, is the unpaged listing (pages neither overlap nor skip)', () => {
  fc.assert(fc.property(storeArb, fc.array(fc.constantFrom(...SORTS), { maxLength: 2 }), fc.integer({ min: 1, max: 7 }), (flows, sortBy, pageSize) => {
    const store = fill(flows)
    const all = store.list({ sortBy })
    const pages = []
    const totalPages = Math.ceil(all.totalResults / pageSize)
    for (let page = 0; page <= totalPages; page++) {
      const p = store.list({ sortBy, page, pageSize })
      assert.equal(p.totalResults, all.totalResults)
      assert.equal(p.totalPages, totalPages)
      pages.push(...p.items)
    }
    assert.deepEqual(pages, all.items)
  }), { numRuns: 100 })
})

test('a key in many buckets keeps the oldest entry\'s label order and sums every bucket', () => {
  const store = new FlowStore({ nowSeconds: () => NOW })
  const base: Omit<FlowLog, 'startTime' | 'endTime' | 'sourceLabels'> = {
    key: { sourceName: 'a', sourceNamespace: 'x', sourceType: 'WorkloadEndpoint', destName: 'b', destNamespace: 'x', destType: 'WorkloadEndpoint', destPort: 80, destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0, proto: 'tcp', reporter: 'Src', action: 'Allow', policies: { enforced: [], pending: [] } },
    destLabels: [], packetsIn: 1, packetsOut: 1, bytesIn: 10, bytesOut: 10, connectionsStarted: 1, connectionsCompleted: 0, connectionsLive: 1
  }
  store.ingest({ ...base, startTime: BASE, endTime: BASE + 15, sourceLabels: ['z=1', 'a=1', 'm=1'] })
  store.ingest({ ...base, startTime: BASE + 15, endTime: BASE + 30, sourceLabels: ['m=1', 'a=1', 'z=1'] })
  store.ingest({ ...base, startTime: BASE + 30, endTime: BASE + 45, sourceLabels: ['a=1', 'z=1'] })
  const [only] = store.list({ pageSize: 10 }).items
  assert.deepEqual(only?.flow.sourceLabels, ['z=1', 'a=1'])
  assert.equal(only?.flow.bytesIn, 30)
  assert.deepEqual([only?.flow.startTime, only?.flow.endTime], [BASE, BASE + 45])
})

test('results and entries carry only flow-log fields', () => {
  const store = new FlowStore({ nowSeconds: () => NOW })
  const heard: number[] = []
  store.subscribe((_bucket, id) => heard.push(id))
  store.ingest({
    key: { sourceName: 'a', sourceNamespace: 'x', sourceType: 'WorkloadEndpoint', destName: 'b', destNamespace: 'x', destType: 'WorkloadEndpoint', destPort: 80, destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0, proto: 'tcp', reporter: 'Src', action: 'Allow', policies: { enforced: [], pending: [] } },
    startTime: BASE, endTime: BASE + 15, sourceLabels: [], destLabels: [], packetsIn: 1, packetsOut: 1, bytesIn: 1, bytesOut: 1, connectionsStarted: 1, connectionsCompleted: 0, connectionsLive: 1
  })
  const fields = ['key', 'startTime', 'endTime', 'sourceLabels', 'destLabels', 'packetsIn', 'packetsOut', 'bytesIn', 'bytesOut', 'connectionsStarted', 'connectionsCompleted', 'connectionsLive'].sort()
  assert.deepEqual(Object.keys(store.list().items[0]?.flow ?? {}).sort(), fields)
  assert.deepEqual(Object.keys(store.entry(BASE, heard[0] ?? 0)?.flow ?? {}).sort(), fields)
})

test('TopSelection keeps exactly the limit smallest, in order, whatever the offer order', () => {
  fc.assert(fc.property(fc.uniqueArray(fc.integer(), { maxLength: 2000 }), fc.oneof(fc.nat({ max: 50 }), fc.constant(Infinity)), (values, limit) => {
    const selection = new TopSelection<number>(limit, (a, b) => a - b)
    for (const v of values) selection.offer(v)
    assert.deepEqual(selection.sorted(), [...values].sort((a, b) => a - b).slice(0, limit))
  }), { numRuns: 200 })
})

test('TopSelection rejects by threshold once it has pruned, and rejects everything at limit 0', () => {
  const selection = new TopSelection<number>(2, (a, b) => a - b)
  for (let i = 1000; i > 0; i--) selection.offer(i)
  assert.ok(selection.threshold !== undefined && selection.threshold <= 1000)
  assert.equal(selection.offer(5000), false)
  assert.deepEqual(selection.sorted(), [1, 2])
  assert.equal(new TopSelection<number>(0, (a, b) => a - b).offer(1), false)
})
