// The aggregator over real gRPC on 127.0.0.1:0: Connect with one receipt per update and deduplicated resends,
// List / Stream / FilterHints / Statistics / Impact answering what was sent, request validation through the one
// status mapping, and a server that keeps serving after bad requests.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { startAggregator, type RunningAggregator } from '../../agent/src/aggregator/aggregator-server.js'
import { NODE_METADATA } from '../../agent/src/aggregator/node-registry.js'
import { flowLogToWire } from '../../agent/src/grpc/goldmane-mapping.js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFilter, WireFlowListRequest, WireFlowResult, WireFlowUpdate, WireStatisticsResult } from '../../agent/src/grpc/wire-types.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const protos = loadProtos()
const insecure = grpc.credentials.createInsecure()
const NOW_BUCKET = Math.floor(Date.now() / 1000 / 15) * 15

function hit (fields: Partial<PolicyHit> = {}): PolicyHit {
  return { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'allow-api', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0, ...fields }
}

function flow (start: number, fields: Partial<FlowKey> = {}, bytes = 100): FlowLog {
  return {
    key: {
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint',
      destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint', destPort: 8080,
      destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0,
      proto: 'tcp', reporter: 'Dst', action: 'Allow', policies: { enforced: [hit()], pending: [hit()] },
      ...fields
    },
    startTime: start, endTime: start + 15, sourceLabels: ['app=web'], destLabels: ['app=api'],
    packetsIn: 2, packetsOut: 1, bytesIn: bytes, bytesOut: 0, connectionsStarted: 1, connectionsCompleted: 1, connectionsLive: 0
  }
}

const stagedDeny = hit({ kind: 'StagedNetworkPolicy', name: 'default-deny', action: 'Deny' })

/** What the tests send: 3 unchanged flows and 2 flows a staged policy would deny, over 3 buckets. */
const SENT: FlowLog[] = [
  flow(NOW_BUCKET - 120, { sourceName: 'web-*' }, 100),
  flow(NOW_BUCKET - 105, { sourceName: 'web-*' }, 50),
  flow(NOW_BUCKET - 120, { sourceName: 'cart-*', destName: 'db-*', destNamespace: 'data', destPort: 5432 }, 300),
  flow(NOW_BUCKET - 90, { sourceName: 'batch-*', policies: { enforced: [hit()], pending: [stagedDeny] } }, 70),
  flow(NOW_BUCKET - 90, { sourceName: 'cron-*', policies: { enforced: [hit()], pending: [stagedDeny] } }, 30)
]

interface Sent { receipts: number, instance: string | undefined }

/** Streams `flows` over one Connect call as `node`, half-closes, and counts receipts. */
async function connectAndSend (address: string, flows: readonly FlowLog[], node?: { name: string, queryAddress: string }, extra: WireFlowUpdate[] = []): Promise<Sent> {
  const client = createGrpcClient(protos.goldmane.FlowCollector, address, insecure)
  try {
    const metadata = new grpc.Metadata()
    if (node !== undefined) {
      metadata.set(NODE_METADATA.node, node.name)
      metadata.set(NODE_METADATA.queryAddress, node.queryAddress)
    }
    const call = client.Connect(metadata)
    let instance: string | undefined
    call.on('metadata', (md: grpc.Metadata) => { instance = md.get(NODE_METADATA.instance)[0] as string | undefined })
    let receipts = 0
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', () => { receipts++ })
      call.on('end', resolve)
      call.on('error', reject)
    })
    for (const f of flows) call.write({ flow: flowLogToWire(f) })
    for (const u of extra) call.write(u)
    // Wait for every receipt before half-closing, as an exporter does.
    const expected = flows.length + extra.length
    while (receipts < expected) await new Promise(resolve => setTimeout(resolve, 5))
    call.end()
    await done
    return { receipts, instance }
  } finally {
    client.close()
  }
}

function listRequest (fields: Partial<WireFlowListRequest> = {}): WireFlowListRequest {
  return { startTimeGte: 0, startTimeLt: 0, page: 0, pageSize: 0, sortBy: [], filter: null, aggregationInterval: 0, ...fields }
}

function emptyFilter (fields: Partial<WireFilter> = {}): WireFilter {
  return { sourceNames: [], sourceNamespaces: [], destNames: [], destNamespaces: [], protocols: [], destPorts: [], actions: [], policies: [], ...fields }
}

async function withAggregator (fn: (aggregator: RunningAggregator) => Promise<void>, options: Partial<Parameters<typeof startAggregator>[0]> = {}): Promise<void> {
  const aggregator = await startAggregator({ listen: '127.0.0.1:0', streamTickMs: 20, streamSettleSeconds: 0, ...options })
  try {
    await fn(aggregator)
  } finally {
    await aggregator.close(500)
  }
}

test('Connect: one receipt per update, the instance id in the initial metadata, resends deduplicated', async () => {
  await withAggregator(async aggregator => {
    const node = { name: 'node-a', queryAddress: '127.0.0.1:9' }
    const first = await connectAndSend(aggregator.address, SENT, node)
    assert.equal(first.receipts, SENT.length)
    assert.equal(first.instance, aggregator.instanceId)
    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    try {
      const before = await callUnary(flows, 'List', listRequest())
      assert.equal(before.meta?.totalResults, 4, 'web-* over two buckets is one flow over the whole range')
      const bytes = (r: { flows: WireFlowResult[] }): number => r.flows.reduce((n, f) => n + (f.flow?.bytesIn ?? 0), 0)
      assert.equal(bytes(before), 550)
      // Reconnect and resend everything (what an agent does after a restart of either side): acknowledged, not added.
      const again = await connectAndSend(aggregator.address, SENT, node)
      assert.equal(again.receipts, SENT.length)
      const after = await callUnary(flows, 'List', listRequest())
      assert.equal(bytes(after), 550)
      // The same flows from another node are real traffic and are merged into the same keys.
      await connectAndSend(aggregator.address, SENT.slice(0, 1), { name: 'node-b', queryAddress: '127.0.0.1:9' })
      assert.equal(bytes(await callUnary(flows, 'List', listRequest())), 650)
      const nodes = createGrpcClient(protos.shadowflow.Nodes, aggregator.address, insecure)
      try {
        const listed = await callUnary(nodes, 'ListNodes', {})
        const a = listed.nodes.find(n => n.name === 'node-a')
        assert.equal(a?.updatesReceived, 2 * SENT.length)
        assert.equal(a?.duplicatesDropped, SENT.length)
        assert.equal(a?.queryAddress, '127.0.0.1:9')
        assert.equal(a?.connected, false)
        assert.ok((a?.lagSeconds ?? 0) > 60, 'the newest flow ended more than a minute ago')
      } finally {
        nodes.close()
      }
      const text = await aggregator.metrics.metrics()
      assert.match(text, /shadowflow_aggregator_duplicate_updates_total\{node="node-a"\} 5/)
      assert.match(text, /shadowflow_aggregator_flow_updates_total\{node="node-a"\} 10/)
    } finally {
      flows.close()
    }
  })
})

test('Connect: Felix-style connections without metadata are node "unknown"; malformed updates are acknowledged and counted', async () => {
  await withAggregator(async aggregator => {
    const sent = await connectAndSend(aggregator.address, SENT.slice(0, 2), undefined, [{ flow: null }])
    assert.equal(sent.receipts, 3)
    const [node] = aggregator.nodes.list()
    assert.equal(node?.name, 'unknown')
    assert.equal(node?.id, 'unknown@127.0.0.1')
    assert.equal(node?.invalidUpdates, 1)
    assert.equal(aggregator.store.size, 2)
  })
})

test('List, FilterHints, Statistics and Impact answer what was sent', async () => {
  await withAggregator(async aggregator => {
    await connectAndSend(aggregator.address, SENT, { name: 'node-a', queryAddress: '127.0.0.1:9' })
    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    const statistics = createGrpcClient(protos.goldmane.Statistics, aggregator.address, insecure)
    const impact = createGrpcClient(protos.shadowflow.Impact, aggregator.address, insecure)
    try {
      const page = await callUnary(flows, 'List', listRequest({ page: 1, pageSize: 3, sortBy: [{ sortBy: 'SourceName' }] }))
      assert.deepEqual(page.meta, { totalPages: 2, totalResults: 4 })
      assert.deepEqual(page.flows.map(f => f.flow?.Key?.sourceName), ['web-*'])
      const windowed = await callUnary(flows, 'List', listRequest({ aggregationInterval: 15, filter: emptyFilter({ sourceNames: [{ value: 'web', type: 'Fuzzy' }] }) }))
      assert.deepEqual(windowed.flows.map(f => [f.flow?.startTime, f.flow?.bytesIn]), [[NOW_BUCKET - 105, 50], [NOW_BUCKET - 120, 100]])
      // Relative to the server's now: back to 95 s before the module's bucket (the -90 flows, not the -105 one).
      const ranged = await callUnary(flows, 'List', listRequest({ startTimeGte: -Math.ceil(Date.now() / 1000 - (NOW_BUCKET - 95)) }))
      assert.deepEqual(ranged.flows.map(f => f.flow?.Key?.sourceName).sort(), ['batch-*', 'cron-*'])
      const hints = await callUnary(flows, 'FilterHints', { type: 'FilterTypeDestNamespace', filter: null, startTimeGte: 0, startTimeLt: 0, page: 0, pageSize: 0 })
      assert.deepEqual(hints.hints.map(h => h.value), ['data', 'shop'])

      const rows: WireStatisticsResult[] = []
      await new Promise<void>((resolve, reject) => {
        const call = statistics.List({ startTimeGte: 0, startTimeLt: 0, type: 'ByteCount', groupBy: 'Policy', policyMatch: null, timeSeries: false })
        call.on('data', (row: WireStatisticsResult) => rows.push(row))
        call.on('end', resolve)
        call.on('error', reject)
      })
      const byName = new Map(rows.map(r => [`${r.policy?.kind}/${r.policy?.name}`, r]))
      assert.deepEqual(byName.get('CalicoNetworkPolicy/allow-api')?.allowedIn, [550])
      assert.deepEqual(byName.get('StagedNetworkPolicy/default-deny')?.deniedIn, [100])

      const report = await callUnary(impact, 'GetImpact', { startTimeGte: 0, startTimeLt: 0, filter: null, maxExamples: 0 })
      assert.equal(report.considered?.flows, 4)
      assert.equal(report.changed?.flows, 2)
      assert.equal(report.changed?.newlyDenied, 2)
      assert.equal(report.changed?.bytes, 100)
      assert.equal(report.groups.length, 1)
      assert.equal(report.groups[0]?.policy?.name, 'default-deny')
      assert.equal(report.groups[0]?.policy?.kind, 'StagedNetworkPolicy')
      assert.deepEqual(report.groups[0]?.examples.map(f => f.Key?.sourceName), ['batch-*', 'cron-*'])
    } finally {
      flows.close()
      statistics.close()
      impact.close()
    }
  })
})

test('Stream: backlog then live flows as they arrive, one result per flow and 15 s bucket', async () => {
  await withAggregator(async aggregator => {
    await connectAndSend(aggregator.address, SENT.slice(0, 2), { name: 'node-a', queryAddress: '127.0.0.1:9' })
    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    try {
      const call = flows.Stream({ startTimeGte: -600, filter: emptyFilter({ sourceNames: [{ value: 'web-*', type: 'Exact' }, { value: 'late-*', type: 'Exact' }] }), aggregationInterval: 15 })
      const received: WireFlowResult[] = []
      call.on('data', (r: WireFlowResult) => received.push(r))
      call.on('error', () => {})
      const waitFor = async (n: number): Promise<void> => {
        const deadline = Date.now() + 5000
        while (received.length < n && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
      }
      await waitFor(2)
      assert.deepEqual(received.map(r => r.flow?.startTime), [NOW_BUCKET - 120, NOW_BUCKET - 105])
      assert.equal(received[0]?.id, received[1]?.id, 'one id per key')
      await connectAndSend(aggregator.address, [flow(NOW_BUCKET - 60, { sourceName: 'late-*' }), flow(NOW_BUCKET - 60, { sourceName: 'other-*' })], { name: 'node-a', queryAddress: '127.0.0.1:9' })
      await waitFor(3)
      assert.deepEqual(received.slice(2).map(r => r.flow?.Key?.sourceName), ['late-*'])
      await new Promise(resolve => setTimeout(resolve, 100))
      assert.equal(received.length, 3, 'nothing is sent twice without an update')
      call.cancel()
    } finally {
      flows.close()
    }
  })
})

test('malformed and oversized requests get INVALID_ARGUMENT / RESOURCE_EXHAUSTED and the server keeps serving', async () => {
  await withAggregator(async aggregator => {
    await connectAndSend(aggregator.address, SENT, { name: 'node-a', queryAddress: '127.0.0.1:9' })
    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    const impact = createGrpcClient(protos.shadowflow.Impact, aggregator.address, insecure)
    const statistics = createGrpcClient(protos.goldmane.Statistics, aggregator.address, insecure)
    try {
      const code = async (promise: Promise<unknown>): Promise<number> => {
        try { await promise } catch (error) { return (error as grpc.ServiceError).code }
        return grpc.status.OK
      }
      assert.equal(await code(callUnary(flows, 'List', listRequest({ pageSize: -1 }))), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(flows, 'List', listRequest({ pageSize: 1_000_000 }))), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(flows, 'List', listRequest({ page: 2 }))), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(flows, 'List', listRequest({ aggregationInterval: 20 }))), grpc.status.INVALID_ARGUMENT)
      const manyNames = Array.from({ length: 300 }, (_, i) => ({ value: `n${i}`, type: 'Exact' as const }))
      assert.equal(await code(callUnary(flows, 'List', listRequest({ filter: emptyFilter({ sourceNames: manyNames }) }))), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(flows, 'List', listRequest({ filter: emptyFilter({ destPorts: [{ port: 70000 }] }) }))), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(flows, 'FilterHints', { type: 'FilterTypeUnspecified', filter: null, startTimeGte: 0, startTimeLt: 0, page: 0, pageSize: 0 })), grpc.status.INVALID_ARGUMENT)
      assert.equal(await code(callUnary(impact, 'GetImpact', { startTimeGte: 0, startTimeLt: 0, filter: null, maxExamples: 10_000 })), grpc.status.INVALID_ARGUMENT)
      const streamCode = await new Promise<number>(resolve => {
        const call = flows.Stream({ startTimeGte: 0, filter: null, aggregationInterval: 60 })
        call.on('data', () => {})
        call.on('error', (e: grpc.ServiceError) => resolve(e.code))
        call.on('end', () => resolve(grpc.status.OK))
      })
      assert.equal(streamCode, grpc.status.INVALID_ARGUMENT)
      const statsCode = await new Promise<number>(resolve => {
        const call = statistics.List({ startTimeGte: 0, startTimeLt: 0, type: 'PacketCount', groupBy: 'Policy', policyMatch: { kind: 'KindUnspecified', tier: '', namespace: '', name: '', action: 42 as unknown as 'Allow' }, timeSeries: false })
        call.on('data', () => {})
        call.on('error', (e: grpc.ServiceError) => resolve(e.code))
        call.on('end', () => resolve(grpc.status.OK))
      })
      assert.equal(statsCode, grpc.status.INVALID_ARGUMENT)
      // Larger than the server's 4 MiB receive limit.
      const huge = emptyFilter({ sourceNames: [{ value: 'x'.repeat(5 * 1024 * 1024), type: 'Exact' }] })
      assert.equal(await code(callUnary(flows, 'List', listRequest({ filter: huge }))), grpc.status.RESOURCE_EXHAUSTED)
      // Still serving.
      const ok = await callUnary(flows, 'List', listRequest())
      assert.equal(ok.meta?.totalResults, 4)
    } finally {
      flows.close()
      impact.close()
      statistics.close()
    }
  }, { limits: { maxPageSize: 1000 } })
})

test('an unpaged List larger than the page limit is RESOURCE_EXHAUSTED; metrics are served on loopback when asked', async () => {
  await withAggregator(async aggregator => {
    await connectAndSend(aggregator.address, SENT, { name: 'node-a', queryAddress: '127.0.0.1:9' })
    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    try {
      await assert.rejects(callUnary(flows, 'List', listRequest()), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED)
      const paged = await callUnary(flows, 'List', listRequest({ pageSize: 3 }))
      assert.equal(paged.flows.length, 3)
    } finally {
      flows.close()
    }
    assert.match(aggregator.metricsAddress ?? '', /^127\.0\.0\.1:\d+$/)
    const response = await fetch(`http://${aggregator.metricsAddress ?? ''}/metrics`)
    const text = await response.text()
    assert.equal(response.status, 200)
    assert.match(text, /shadowflow_aggregator_store_flows 5/)
    assert.match(text, /shadowflow_aggregator_store_ingested_total\{outcome="added"\} 5/)
  }, { limits: { maxPageSize: 3 }, metricsAddress: '0' })
})
