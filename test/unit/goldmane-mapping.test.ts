// Domain ⇄ goldmane wire mapping, checked through the real protobuf encoding of proto/goldmane/api.proto (so a
// field renamed on either side fails here), and the validation of what a peer sends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  flowFilterFromWire, flowFilterToWire, flowLogFromWire, flowLogToWire, policyHitFromWire, policyMatchFromWire, policyHitToWire
} from '../../agent/src/grpc/goldmane-mapping.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFilter, WireFlow } from '../../agent/src/grpc/wire-types.js'
import { EMPTY_FLOW_FILTER, flowFilter } from '../../agent/src/flows/flow-filter.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'
import { ShadowflowError } from '../../agent/src/errors.js'

const protos = loadProtos()
const collector = protos.goldmane.FlowCollector.service.Connect ?? assert.fail('FlowCollector.Connect missing')
const flows = protos.goldmane.Flows.service.List ?? assert.fail('Flows.List missing')

/** What a peer receives for a FlowUpdate carrying `flow`: serialized and parsed as grpc-js does. */
function overTheWire (flow: WireFlow): WireFlow {
  const update = collector.requestDeserialize(collector.requestSerialize({ flow })) as { flow: WireFlow | null }
  assert.ok(update.flow !== null)
  return update.flow
}

function filterOverTheWire (filter: WireFilter): WireFilter {
  const request = flows.requestDeserialize(flows.requestSerialize({ filter })) as { filter: WireFilter | null }
  assert.ok(request.filter !== null)
  return request.filter
}

const endOfTier: PolicyHit = {
  kind: 'EndOfTier', namespace: '', name: '', tier: 'default', action: 'Deny', policyIndex: 1, ruleIndex: -1,
  trigger: { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'backend', tier: 'default' }
}
const staged: PolicyHit = {
  kind: 'StagedKubernetesNetworkPolicy', namespace: 'shop', name: 'knp.default.lockdown', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 3
}
const profile: PolicyHit = { kind: 'Profile', namespace: '', name: 'kns.shop', tier: '', action: 'Allow', policyIndex: 2, ruleIndex: 0 }
const pass: PolicyHit = { kind: 'GlobalNetworkPolicy', namespace: '', name: 'pass-all', tier: 'security', action: 'Pass', policyIndex: 0, ruleIndex: 0 }

const sample: FlowLog = {
  key: {
    sourceName: 'frontend-6c9f8-*',
    sourceNamespace: 'shop',
    sourceType: 'WorkloadEndpoint',
    destName: 'pub',
    destNamespace: '',
    destType: 'Network',
    destPort: 443,
    destServiceName: 'api',
    destServiceNamespace: 'shop',
    destServicePortName: 'https',
    destServicePort: 8443,
    proto: 'tcp',
    reporter: 'Dst',
    action: 'Deny',
    policies: { enforced: [pass, endOfTier], pending: [pass, staged, profile] }
  },
  startTime: 1_700_000_000,
  endTime: 1_700_000_015,
  sourceLabels: ['app=frontend', 'tier=web'],
  destLabels: [],
  packetsIn: 3,
  packetsOut: 5,
  bytesIn: 2 ** 40, // beyond 32 bits: int64 must survive as a number
  bytesOut: 700,
  connectionsStarted: 2,
  connectionsCompleted: 1,
  connectionsLive: 1
}

test('a flow log survives domain → goldmane.Flow → protobuf bytes → domain unchanged', () => {
  assert.deepEqual(flowLogFromWire(overTheWire(flowLogToWire(sample))), sample)
})

test('the wire form uses Goldmane names: Key, numConnections*, enforcedPolicies, enum names', () => {
  const wire = overTheWire(flowLogToWire(sample))
  assert.equal(wire.Key?.reporter, 'Dst')
  assert.equal(wire.Key?.destType, 'Network')
  assert.equal(wire.numConnectionsStarted, 2)
  assert.equal(wire.bytesIn, 2 ** 40)
  const hit = wire.Key?.policies?.enforcedPolicies[1]
  assert.equal(hit?.kind, 'EndOfTier')
  assert.equal(hit?.ruleIndex, -1)
  assert.equal(hit?.trigger?.name, 'backend')
  assert.equal(hit?.trigger?.kind, 'CalicoNetworkPolicy')
  assert.equal(wire.Key?.policies?.pendingPolicies[2]?.kind, 'Profile')
})

test('a Felix trace through the ClusterNetworkPolicy tiers (kinds shadowflow never evaluates) is kept as sent', () => {
  // What a Calico Felix with AdminNetworkPolicies reports: an admin-tier Pass, then the baseline tier's end of
  // tier after a BaselineAdminNetworkPolicy applied without matching.
  const admin: PolicyHit = { kind: 'ClusterNetworkPolicyAdminTier', namespace: '', name: 'cluster-guardrails', tier: 'kube-admin', action: 'Pass', policyIndex: 0, ruleIndex: 2 }
  const baselineEnd: PolicyHit = {
    kind: 'EndOfTier', namespace: '', name: '', tier: 'kube-baseline', action: 'Deny', policyIndex: 1, ruleIndex: -1,
    trigger: { kind: 'ClusterNetworkPolicyBaselineTier', namespace: '', name: 'default', tier: 'kube-baseline' }
  }
  const felix: FlowLog = { ...sample, key: { ...sample.key, action: 'Deny', policies: { enforced: [admin, baselineEnd], pending: [admin, baselineEnd] } } }
  const wire = overTheWire(flowLogToWire(felix))
  assert.equal(wire.Key?.policies?.enforcedPolicies[0]?.kind, 'ClusterNetworkPolicyAdminTier')
  assert.equal(wire.Key?.policies?.enforcedPolicies[1]?.trigger?.kind, 'ClusterNetworkPolicyBaselineTier')
  assert.deepEqual(flowLogFromWire(wire), felix)
  assert.deepEqual(policyMatchFromWire({ kind: 'ClusterNetworkPolicyAdminTier', tier: '', namespace: '', name: '', action: 'ActionUnspecified' }), { kind: 'ClusterNetworkPolicyAdminTier' })
})

test('a hit without a trigger maps back without a trigger property', () => {
  const back = policyHitFromWire(policyHitToWire(staged))
  assert.deepEqual(back, staged)
  assert.equal('trigger' in back, false)
})

/** Runs `fn` and returns the ShadowflowError it throws. */
function invalid (fn: () => unknown): ShadowflowError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof ShadowflowError, String(error))
    assert.equal(error.code, 'ERR_REQUEST_INVALID')
    return error
  }
  assert.fail('expected ERR_REQUEST_INVALID')
}

function mutated (change: (wire: WireFlow) => void): WireFlow {
  const wire = overTheWire(flowLogToWire(sample))
  change(wire)
  return wire
}

const rejected: Array<{ name: string, change: (wire: WireFlow) => void, field: string }> = [
  { name: 'a flow without Key', change: w => { w.Key = null }, field: 'flow.Key' },
  { name: 'an unspecified reporter', change: w => { if (w.Key) w.Key.reporter = 'ReporterUnspecified' }, field: 'flow.Key.reporter' },
  { name: 'a flow action Pass', change: w => { if (w.Key) w.Key.action = 'Pass' }, field: 'flow.Key.action' },
  { name: 'an unspecified endpoint type', change: w => { if (w.Key) w.Key.sourceType = 'EndpointTypeUnspecified' }, field: 'flow.Key.sourceType' },
  { name: 'a port above 65535', change: w => { if (w.Key) w.Key.destPort = 70000 }, field: 'flow.Key.destPort' },
  { name: 'a negative counter', change: w => { w.bytesOut = -1 }, field: 'flow.bytesOut' },
  { name: 'an end before the start', change: w => { w.endTime = w.startTime - 15 }, field: 'flow.endTime' },
  {
    name: 'a hit of unspecified kind',
    change: w => { const hit = w.Key?.policies?.pendingPolicies[1]; if (hit) hit.kind = 'KindUnspecified' },
    field: 'flow.Key.policies.pendingPolicies[1].kind'
  },
  {
    name: 'an enum number this build does not know',
    change: w => { const hit = w.Key?.policies?.enforcedPolicies[0]; if (hit) (hit as { action: unknown }).action = 42 },
    field: 'flow.Key.policies.enforcedPolicies[0].action'
  },
  {
    name: 'a trigger that is not a policy',
    change: w => { const trigger = w.Key?.policies?.enforcedPolicies[1]?.trigger; if (trigger) trigger.kind = 'Profile' },
    field: 'flow.Key.policies.enforcedPolicies[1].trigger.kind'
  }
]

for (const r of rejected) {
  test(`flowLogFromWire rejects ${r.name}, naming ${r.field}`, () => {
    const error = invalid(() => flowLogFromWire(mutated(r.change)))
    assert.equal(error.location.field, r.field)
  })
}

test('an unknown enum number from the wire arrives as a number and is rejected', () => {
  // Encode PolicyHit.kind = 42 by hand-building the message through protobufjs' fromObject (numbers allowed).
  const wire = flowLogToWire(sample)
  const enforced = wire.Key?.policies?.enforcedPolicies
  assert.ok(enforced?.[0])
  ;(enforced[0] as { kind: unknown }).kind = 42
  const received = overTheWire(wire)
  assert.equal(received.Key?.policies?.enforcedPolicies[0]?.kind, 42 as unknown)
  const error = invalid(() => flowLogFromWire(received))
  assert.equal(error.location.field, 'flow.Key.policies.enforcedPolicies[0].kind')
})

test('a filter survives domain → goldmane.Filter → protobuf bytes → domain unchanged', () => {
  const filter = flowFilter({
    sourceNames: [{ value: 'frontend', type: 'Fuzzy' }],
    sourceNamespaces: [{ value: 'shop', type: 'Exact' }],
    destNames: [{ value: 'backend-7d4f9-*', type: 'Exact' }, { value: 'db', type: 'Fuzzy' }],
    destNamespaces: [{ value: 'shop-api', type: 'Exact' }],
    protocols: [{ value: 'udp', type: 'Exact' }],
    destPorts: [53, 8080],
    actions: ['Deny', 'Pass'],
    policies: [{ kind: 'StagedNetworkPolicy', tier: 'security', namespace: 'shop', name: 'lockdown', action: 'Deny' }, { name: 'any-kind' }]
  })
  assert.deepEqual(flowFilterFromWire(filterOverTheWire(flowFilterToWire(filter))), filter)
})

test('an absent filter is the empty filter; pending_changed_only travels beside it', () => {
  assert.deepEqual(flowFilterFromWire(null), EMPTY_FLOW_FILTER)
  assert.deepEqual(flowFilterFromWire(undefined, true), { ...EMPTY_FLOW_FILTER, pendingChangedOnly: true })
})

test('a policy match with unspecified kind and action matches any kind and action', () => {
  const wire = filterOverTheWire({ ...flowFilterToWire(EMPTY_FLOW_FILTER), policies: [{ kind: 'KindUnspecified', tier: '', namespace: '', name: 'x', action: 'ActionUnspecified' }] })
  assert.deepEqual(flowFilterFromWire(wire).policies, [{ name: 'x' }])
})

test('a filter with a port out of range or an unspecified action is rejected with its field', () => {
  const base = flowFilterToWire(EMPTY_FLOW_FILTER)
  assert.equal(invalid(() => flowFilterFromWire({ ...base, destPorts: [{ port: 70000 }] })).location.field, 'filter.destPorts[0].port')
  assert.equal(invalid(() => flowFilterFromWire({ ...base, actions: ['Allow', 'ActionUnspecified'] })).location.field, 'filter.actions[1]')
  assert.equal(invalid(() => flowFilterFromWire({ ...base, protocols: [{ value: 'tcp', type: 7 as unknown as 'Exact' }] })).location.field, 'filter.protocols[0].type')
})
