// Statistics over the flow store (per policy and per rule, allowed/denied/passed × in/out, time series,
// policy match) and the resend deduplicator's bounded memory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FlowStore } from '../../agent/src/aggregator/flow-store.js'
import { computeStatistics } from '../../agent/src/aggregator/policy-statistics.js'
import { ResendDeduplicator } from '../../agent/src/aggregator/resend-deduplicator.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const BASE = Math.floor(1_700_000_000 / 15) * 15

function hit (fields: Partial<PolicyHit> = {}): PolicyHit {
  return { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'api', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0, ...fields }
}

function flow (start: number, fields: Partial<FlowKey>, packets: number, bytes: number, live = 0): FlowLog {
  return {
    key: {
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint',
      destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint', destPort: 8080,
      destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0,
      proto: 'tcp', reporter: 'Dst', action: 'Allow', policies: { enforced: [hit()], pending: [hit()] },
      ...fields
    },
    startTime: start, endTime: start + 15, sourceLabels: [], destLabels: [],
    packetsIn: packets, packetsOut: 0, bytesIn: bytes, bytesOut: 0, connectionsStarted: 1, connectionsCompleted: 0, connectionsLive: live
  }
}

function populated (): FlowStore {
  const now = { t: BASE + 300 }
  const store = new FlowStore({ nowSeconds: () => now.t })
  // Ingress (reporter Dst) allowed by rule 0 of "api", in two buckets.
  store.ingest(flow(BASE, { sourceName: 'a' }, 10, 1000, 2))
  store.ingest(flow(BASE + 30, { sourceName: 'a' }, 5, 500, 1))
  // Ingress denied by rule 2 of "api".
  store.ingest(flow(BASE, { sourceName: 'b', action: 'Deny', policies: { enforced: [hit({ action: 'Deny', ruleIndex: 2 })], pending: [hit({ action: 'Deny', ruleIndex: 2 })] } }, 3, 300))
  // Egress (reporter Src): passed by a tier policy, then allowed by "api".
  const pass = hit({ tier: 'security', name: 'sec', action: 'Pass' })
  store.ingest(flow(BASE, { sourceName: 'c', reporter: 'Src', policies: { enforced: [pass, hit({ policyIndex: 1 })], pending: [pass, hit({ policyIndex: 1 })] } }, 7, 700))
  // A staged policy's hit in the pending trace counts too.
  store.ingest(flow(BASE, { sourceName: 'd', policies: { enforced: [hit()], pending: [hit({ kind: 'StagedNetworkPolicy', name: 'lockdown', action: 'Deny' })] } }, 1, 100))
  return store
}

test('per policy: packets split by action and direction; staged pending hits included', () => {
  const rows = computeStatistics(populated(), { type: 'PacketCount', groupBy: 'Policy', timeSeries: false })
  const byName = new Map(rows.map(r => [`${r.policy.kind}/${r.policy.name}`, r]))
  const api = byName.get('CalicoNetworkPolicy/api')
  assert.equal(api?.direction, 'Any')
  assert.deepEqual([api?.allowedIn, api?.allowedOut, api?.deniedIn, api?.deniedOut, api?.passedIn, api?.passedOut],
    [[10 + 5 + 1], [7], [3], [0], [0], [0]])
  const sec = byName.get('CalicoNetworkPolicy/sec')
  assert.deepEqual(sec?.passedOut, [7])
  assert.deepEqual(byName.get('StagedNetworkPolicy/lockdown')?.deniedIn, [1])
  assert.equal(rows.length, 3)
})

test('per rule: one row per rule, action and direction', () => {
  const rows = computeStatistics(populated(), { type: 'ByteCount', groupBy: 'PolicyRule', timeSeries: false })
  const api = rows.filter(r => r.policy.name === 'api' && r.policy.kind === 'CalicoNetworkPolicy')
  assert.deepEqual(api.map(r => [r.policy.ruleIndex, r.policy.action, r.direction, r.allowedIn[0], r.allowedOut[0], r.deniedIn[0]]), [
    [0, 'Allow', 'Egress', 0, 700, 0],
    [0, 'Allow', 'Ingress', 1600, 0, 0],
    [2, 'Deny', 'Ingress', 0, 0, 300]
  ])
})

test('time series: one value per 15 s bucket with zeros in between; live connections are the latest level', () => {
  const store = populated()
  const series = computeStatistics(store, { type: 'PacketCount', groupBy: 'Policy', timeSeries: true, policyMatch: { name: 'api', kind: 'CalicoNetworkPolicy' } })
  assert.equal(series.length, 1)
  assert.deepEqual(series[0]?.x, [BASE, BASE + 15, BASE + 30])
  assert.deepEqual(series[0]?.allowedIn, [11, 0, 5])
  const live = computeStatistics(store, { type: 'LiveConnectionCount', groupBy: 'Policy', timeSeries: false, policyMatch: { name: 'api', kind: 'CalicoNetworkPolicy' } })
  assert.deepEqual(live[0]?.allowedIn, [1], 'the newest bucket, not a sum over time')
})

test('policy match and range narrow the rows', () => {
  const store = populated()
  assert.deepEqual(computeStatistics(store, { type: 'PacketCount', groupBy: 'Policy', timeSeries: false, policyMatch: { action: 'Pass' } }).map(r => r.policy.name), ['sec'])
  const late = computeStatistics(store, { type: 'PacketCount', groupBy: 'Policy', timeSeries: false, startTimeGte: BASE + 15 })
  assert.deepEqual(late.map(r => [r.policy.name, r.allowedIn[0]]), [['api', 5]])
  assert.deepEqual(late[0]?.x, [BASE + 15])
})

test('deduplicator: recognises resends per node, forgets them with retention, and bounds memory with a count', () => {
  const now = { t: BASE + 100 }
  const dedup = new ResendDeduplicator({ retentionSeconds: 60, maxEntries: 3, nowSeconds: () => now.t })
  const fp = (node: string, port: number, start: number): string => ResendDeduplicator.fingerprint(node, `key-${port}`, start)
  assert.equal(dedup.isDuplicate(fp('n1', 1, BASE + 60), BASE + 60), false)
  dedup.remember(fp('n1', 1, BASE + 60), BASE + 60)
  assert.equal(dedup.isDuplicate(fp('n1', 1, BASE + 60), BASE + 60), true)
  assert.equal(dedup.isDuplicate(fp('n2', 1, BASE + 60), BASE + 60), false, 'another node is not a resend')
  assert.equal(dedup.isDuplicate(fp('n1', 1, BASE + 75), BASE + 75), false, 'another interval is not a resend')
  dedup.remember(fp('n1', 2, BASE + 75), BASE + 75)
  dedup.remember(fp('n1', 3, BASE + 90), BASE + 90)
  dedup.remember(fp('n1', 4, BASE + 90), BASE + 90)
  // The bound (3) forgot the oldest bucket: its resend would no longer be recognised, and that is counted.
  assert.deepEqual(dedup.stats(), { entries: 3, duplicates: 1, evicted: 1 })
  assert.equal(dedup.isDuplicate(fp('n1', 1, BASE + 60), BASE + 60), false)
  now.t = BASE + 90 + 75
  dedup.remember(fp('n1', 5, BASE + 150), BASE + 150)
  assert.equal(dedup.stats().entries, 1, 'entries older than the retention window are gone')
})
