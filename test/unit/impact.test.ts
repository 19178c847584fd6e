// The impact report: which flows change verdict between the enforced and pending pipelines, attributed to the
// staged policy responsible, with totals and the newly-allowed / newly-denied split.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FlowStore } from '../../agent/src/aggregator/flow-store.js'
import { computeImpact, responsiblePolicy } from '../../agent/src/aggregator/impact-report.js'
import { flowFilter } from '../../agent/src/flows/flow-filter.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const BASE = Math.floor(1_700_000_000 / 15) * 15

function hit (fields: Partial<PolicyHit> = {}): PolicyHit {
  return { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'allow-web', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0, ...fields }
}

function flow (start: number, fields: Partial<FlowKey>, bytes = 100, connections = 1): FlowLog {
  return {
    key: {
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint',
      destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint', destPort: 8080,
      destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0,
      proto: 'tcp', reporter: 'Dst', action: 'Allow', policies: { enforced: [hit()], pending: [hit()] },
      ...fields
    },
    startTime: start, endTime: start + 15, sourceLabels: [], destLabels: [],
    packetsIn: 1, packetsOut: 1, bytesIn: bytes, bytesOut: 0, connectionsStarted: connections, connectionsCompleted: 0, connectionsLive: 0
  }
}

const stagedDeny = hit({ kind: 'StagedNetworkPolicy', name: 'default-deny', action: 'Deny', ruleIndex: 0 })
// A staged policy that selects the pod but has no matching rule: an end-of-tier Deny triggered by it.
const stagedEndOfTier: PolicyHit = { kind: 'EndOfTier', namespace: '', name: '', tier: 'default', action: 'Deny', policyIndex: 1, ruleIndex: -1, trigger: { kind: 'StagedGlobalNetworkPolicy', namespace: '', name: 'lockdown', tier: 'default' } }
const stagedAllow = hit({ kind: 'StagedKubernetesNetworkPolicy', name: 'knp.default.allow-batch', action: 'Allow' })
const enforcedDeny = hit({ name: 'deny-batch', action: 'Deny' })

function populated (): { store: FlowStore, now: { t: number } } {
  const now = { t: BASE + 300 }
  const store = new FlowStore({ nowSeconds: () => now.t })
  // Unchanged: allowed in both.
  store.ingest(flow(BASE, { sourceName: 'ok-*' }, 1000, 10))
  // Newly denied by a staged rule, two buckets of the same key (one flow over the range).
  store.ingest(flow(BASE, { sourceName: 'web-*', policies: { enforced: [hit()], pending: [stagedDeny] } }, 100, 1))
  store.ingest(flow(BASE + 15, { sourceName: 'web-*', policies: { enforced: [hit()], pending: [stagedDeny] } }, 50, 2))
  // Newly denied by a staged end-of-tier default.
  store.ingest(flow(BASE, { sourceName: 'cron-*', policies: { enforced: [hit()], pending: [hit({ kind: 'StagedGlobalNetworkPolicy', namespace: '', name: 'lockdown', action: 'Pass' }), stagedEndOfTier] } }, 70, 1))
  store.ingest(flow(BASE, { sourceName: 'admin-*', policies: { enforced: [hit()], pending: [stagedEndOfTier] } }, 30, 1))
  // Newly allowed by a staged policy ahead of an enforced deny.
  store.ingest(flow(BASE, { sourceName: 'batch-*', action: 'Deny', policies: { enforced: [enforcedDeny], pending: [stagedAllow] } }, 500, 5))
  // Changed but the pending trace names no staged policy: the enforced deny was removed (replace mode, Delete).
  store.ingest(flow(BASE + 120, { sourceName: 'legacy-*', action: 'Deny', policies: { enforced: [enforcedDeny], pending: [] } }, 10, 1))
  return { store, now }
}

test('responsiblePolicy: first staged hit, staged end-of-tier trigger, removed enforced policy, or none', () => {
  assert.deepEqual(responsiblePolicy(flow(0, { policies: { enforced: [hit()], pending: [hit(), stagedDeny] } }).key),
    { kind: 'StagedNetworkPolicy', namespace: 'shop', name: 'default-deny', tier: 'default', attribution: 'staged' })
  assert.deepEqual(responsiblePolicy(flow(0, { policies: { enforced: [hit()], pending: [stagedEndOfTier] } }).key),
    { kind: 'StagedGlobalNetworkPolicy', namespace: '', name: 'lockdown', tier: 'default', attribution: 'staged' })
  assert.deepEqual(responsiblePolicy(flow(0, { policies: { enforced: [enforcedDeny], pending: [] } }).key),
    { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'deny-batch', tier: 'default', attribution: 'removed' })
  assert.equal(responsiblePolicy(flow(0, { policies: { enforced: [hit()], pending: [hit()] } }).key), undefined)
})

test('impact groups changed flows by responsible policy with totals and the allowed/denied split', () => {
  const { store } = populated()
  const report = computeImpact(store)
  assert.deepEqual(report.considered, { flows: 6, connections: 21, bytes: 1760, packets: 14, newlyAllowed: 2, newlyDenied: 3 })
  assert.deepEqual(report.changed, { flows: 5, connections: 11, bytes: 760, packets: 12, newlyAllowed: 2, newlyDenied: 3 })
  const byName = new Map(report.groups.map(g => [`${g.policy?.attribution ?? '-'}:${g.policy?.name ?? '-'}`, g]))
  assert.deepEqual([...byName.keys()].sort(), ['removed:deny-batch', 'staged:default-deny', 'staged:knp.default.allow-batch', 'staged:lockdown'])
  const lockdown = byName.get('staged:lockdown')
  assert.deepEqual(lockdown?.totals, { flows: 2, connections: 2, bytes: 100, packets: 4, newlyAllowed: 0, newlyDenied: 2 })
  assert.deepEqual(lockdown?.examples.map(f => f.key.sourceName), ['cron-*', 'admin-*'], 'examples largest first')
  const defaultDeny = byName.get('staged:default-deny')
  assert.deepEqual(defaultDeny?.totals, { flows: 1, connections: 3, bytes: 150, packets: 4, newlyAllowed: 0, newlyDenied: 1 })
  const allowBatch = byName.get('staged:knp.default.allow-batch')
  assert.equal(allowBatch?.totals.newlyAllowed, 1)
  assert.equal(allowBatch?.policy?.kind, 'StagedKubernetesNetworkPolicy')
  assert.equal(byName.get('removed:deny-batch')?.totals.newlyAllowed, 1)
  assert.equal(report.groups[0]?.policy?.name, 'lockdown', 'the group with most changed flows comes first')
})

test('impact respects the time range, the filter and maxExamples', () => {
  const { store } = populated()
  const late = computeImpact(store, { startTimeGte: BASE + 60 })
  assert.equal(late.changed.flows, 1)
  assert.equal(late.groups[0]?.policy?.name, 'deny-batch')
  assert.equal(late.startTimeGte, BASE + 60)
  const filtered = computeImpact(store, { filter: flowFilter({ sourceNames: [{ value: 'web-*', type: 'Exact' }] }) })
  assert.equal(filtered.considered.flows, 1)
  assert.equal(filtered.changed.newlyDenied, 1)
  const few = computeImpact(store, { maxExamples: 1 })
  assert.ok(few.groups.every(g => g.examples.length <= 1))
  assert.equal(few.groups.find(g => g.policy?.name === 'lockdown')?.examples[0]?.key.sourceName, 'cron-*')
})

test('an empty store reports zero totals over the retention window', () => {
  const now = { t: BASE }
  const report = computeImpact(new FlowStore({ nowSeconds: () => now.t, retentionSeconds: 600 }))
  assert.equal(report.changed.flows, 0)
  assert.equal(report.groups.length, 0)
  assert.equal(report.startTimeGte, BASE - 600)
  assert.equal(report.startTimeLt, BASE)
})
