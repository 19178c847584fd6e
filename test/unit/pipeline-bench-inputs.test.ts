// The pipeline benchmark's inputs are what it claims: the re-addressed cluster puts pod i at the synthetic
// source's address of endpoint i (so every synthetic record runs between known pods and is evaluated), and the
// stored-flow generator yields pairwise distinct keys spread over the hour. Also: FlowPipeline closes intervals
// while a source that always has a batch ready keeps it busy (the synthetic source at full speed does that).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FlowPipeline } from '../../agent/src/agent/flow-pipeline.js'
import { flowKeyIdentity } from '../../agent/src/aggregator/flow-key-identity.js'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'
import type { FlowRecord } from '../../agent/src/flows/flow-record.js'
import { parseIp } from '../../agent/src/policy/ip-address.js'
import { normalizePolicies } from '../../agent/src/policy/normalized-policy.js'
import type { FlowRecordBatch, TapSource } from '../../agent/src/tap/tap-source.js'
import { SMALL_SIZE } from '../bench/fixtures/generate-cluster.js'
import { distinctFlowLogs, syntheticAddress, syntheticCluster } from '../bench/fixtures/synthetic-cluster.js'

test('synthetic addresses follow synthetic-source.cc: 10.244.(k >> 8).(k & 255)', () => {
  assert.equal(syntheticAddress(0), '10.244.0.0')
  assert.equal(syntheticAddress(255), '10.244.0.255')
  assert.equal(syntheticAddress(256), '10.244.1.0')
  assert.equal(syntheticAddress(4999), '10.244.19.135')
})

test('every synthetic endpoint of the re-addressed cluster is a pod of it, and no pod keeps its old address', () => {
  const c = syntheticCluster(SMALL_SIZE)
  assert.equal(c.endpoints, SMALL_SIZE.pods)
  const directory = new InventoryDirectory(c.resources)
  const seen = new Set<string>()
  for (let k = 0; k < c.endpoints; k++) {
    const endpoint = directory.endpointForIp(parseIp(syntheticAddress(k)) ?? assert.fail('bad address'))
    assert.equal(endpoint?.kind, 'workload', `endpoint ${k} is not a pod`)
    seen.add(`${endpoint?.namespace ?? ''}/${endpoint?.name}`)
  }
  assert.equal(seen.size, SMALL_SIZE.pods, 'one pod per synthetic endpoint')
  assert.equal(directory.endpointForIp(parseIp('10.128.0.1') ?? assert.fail('bad address')), undefined)
})

test('the stored-flow generator yields distinct keys, in the range asked, over many buckets', () => {
  const logs = [...distinctFlowLogs(20_000, 1_000_000, 1_003_600)]
  assert.equal(new Set(logs.map(l => flowKeyIdentity(l.key))).size, logs.length)
  assert.ok(logs.every(l => l.startTime >= 1_000_000 && l.startTime < 1_003_600))
  assert.ok(new Set(logs.map(l => Math.floor(l.startTime / 15))).size > 200)
  assert.ok(logs.some(l => l.key.policies.pending !== l.key.policies.enforced), 'some flows change verdict')
})

test('FlowPipeline closes intervals while a source never lets the event loop run', async () => {
  const c = syntheticCluster(SMALL_SIZE)
  const pipeline = new FlowPipeline({ nodeName: 'n', allLocal: true, stagedMode: 'calico', intervalSeconds: 15, maxTrackedFlows: 1024, recentFlows: 0 })
  pipeline.apply({ generation: 1, resources: c.resources, directory: new InventoryDirectory(c.resources), policies: normalizePolicies(c.resources), tiers: c.cluster.tiers, loadedAtMs: 0 })
  const old = Date.now() - 60_000
  const record = (i: number): FlowRecord => ({
    kind: 'start', endReason: 'none', family: 4, protocol: 6, srcAddr: syntheticAddress(i % 300), dstAddr: syntheticAddress((i + 1) % 300),
    srcPort: 40000, dstPort: 8080, ifindex: 0, nameId: 0, packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0,
    firstSeenMs: old, lastSeenMs: old, flowId: i + 1, tcpFlagsFwd: 2, tcpFlagsRev: 0, state: 1, icmpType: 0, icmpCode: 0, fragments: 0, slot: 0
  })
  const sinkCalls: Array<{ logs: number, whileRunning: boolean }> = []
  let running = true
  // Busy for ~200 ms: every batch is ready at once, so the iterator resolves in microtasks only.
  async function * batches (): AsyncIterableIterator<FlowRecordBatch> {
    const end = Date.now() + 200
    for (let i = 0; Date.now() < end; i++) {
      const r = record(i)
      yield { count: 1, record: () => r, records: () => [r] }
    }
    running = false
  }
  const source: TapSource = {
    description: 'test', start () {}, batches, stats: () => { throw new Error('unused') }, interfaces: () => [], close () {},
    [Symbol.asyncIterator]: batches
  }
  await pipeline.run(source, { clock: 'wall', tickMs: 20, sink: (logs: readonly FlowLog[]) => { sinkCalls.push({ logs: logs.length, whileRunning: running }) } })
  assert.ok(sinkCalls.some(call => call.whileRunning && call.logs > 0), `flow logs only at the end: ${JSON.stringify(sinkCalls)}`)
  assert.equal(pipeline.aggregator.stats().trackedFlows, 0, 'the ended source\'s flows are forgotten: the next source numbers its own')
})
