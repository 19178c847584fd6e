// Goldmane's filter semantics on domain flow logs (OR within a field, AND across fields, Fuzzy = substring,
// policy matches against either trace) and the pending-verdict helpers the aggregator and the agent share.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  EMPTY_FLOW_FILTER, flowFilter, isEmptyFlowFilter, isPendingChanged, matchesFlowFilter, pendingAction,
  type FlowFilter
} from '../../agent/src/flows/flow-filter.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const allowFrontend: PolicyHit = {
  kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'allow-frontend', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0
}
const stagedDeny: PolicyHit = {
  kind: 'StagedNetworkPolicy', namespace: 'shop', name: 'lockdown', tier: 'security', action: 'Deny', policyIndex: 0, ruleIndex: 2
}
const endOfTierDeny: PolicyHit = {
  kind: 'EndOfTier', namespace: '', name: '', tier: 'default', action: 'Deny', policyIndex: 1, ruleIndex: -1,
  trigger: { kind: 'GlobalNetworkPolicy', namespace: '', name: 'default-deny', tier: 'default' }
}
const passHit: PolicyHit = { ...allowFrontend, name: 'pass-to-next', tier: 'security', action: 'Pass' }

function flow (key: Partial<FlowKey> = {}): FlowLog {
  return {
    key: {
      sourceName: 'frontend-6c9f8-*',
      sourceNamespace: 'shop',
      sourceType: 'WorkloadEndpoint',
      destName: 'backend-7d4f9-*',
      destNamespace: 'shop-api',
      destType: 'WorkloadEndpoint',
      destPort: 8080,
      destServiceName: '',
      destServiceNamespace: '',
      destServicePortName: '',
      destServicePort: 0,
      proto: 'tcp',
      reporter: 'Src',
      action: 'Allow',
      policies: { enforced: [allowFrontend], pending: [stagedDeny] },
      ...key
    },
    startTime: 1_700_000_000,
    endTime: 1_700_000_015,
    sourceLabels: [],
    destLabels: [],
    packetsIn: 1,
    packetsOut: 1,
    bytesIn: 60,
    bytesOut: 60,
    connectionsStarted: 1,
    connectionsCompleted: 0,
    connectionsLive: 1
  }
}

const cases: Array<{ name: string, filter: Partial<FlowFilter>, flow?: Partial<FlowKey>, matches: boolean }> = [
  { name: 'the empty filter matches everything', filter: {}, matches: true },
  { name: 'Exact source name must be equal', filter: { sourceNames: [{ value: 'frontend', type: 'Exact' }] }, matches: false },
  { name: 'Exact source name equal', filter: { sourceNames: [{ value: 'frontend-6c9f8-*', type: 'Exact' }] }, matches: true },
  { name: 'Fuzzy is a substring match', filter: { destNames: [{ value: 'backend', type: 'Fuzzy' }] }, matches: true },
  { name: 'Fuzzy does not match a non-substring', filter: { destNames: [{ value: 'db', type: 'Fuzzy' }] }, matches: false },
  {
    name: 'values of one field are alternatives',
    filter: { sourceNamespaces: [{ value: 'other', type: 'Exact' }, { value: 'shop', type: 'Exact' }] },
    matches: true
  },
  { name: 'dest namespace exact does not match a prefix', filter: { destNamespaces: [{ value: 'shop', type: 'Exact' }] }, matches: false },
  {
    name: 'fields must all hold',
    filter: { sourceNamespaces: [{ value: 'shop', type: 'Exact' }], destPorts: [443] },
    matches: false
  },
  { name: 'protocols ignore case', filter: { protocols: [{ value: 'TCP', type: 'Exact' }] }, matches: true },
  { name: 'another protocol', filter: { protocols: [{ value: 'udp', type: 'Exact' }] }, matches: false },
  { name: 'dest port listed', filter: { destPorts: [443, 8080] }, matches: true },
  { name: 'actions match the enforced action', filter: { actions: ['Deny'] }, matches: false },
  { name: 'actions: Deny flow', filter: { actions: ['Deny'] }, flow: { action: 'Deny' }, matches: true },
  { name: 'policy by name found in the pending trace', filter: { policies: [{ name: 'lockdown' }] }, matches: true },
  { name: 'policy by name and wrong action', filter: { policies: [{ name: 'lockdown', action: 'Allow' }] }, matches: false },
  { name: 'policy by kind and tier', filter: { policies: [{ kind: 'StagedNetworkPolicy', tier: 'security' }] }, matches: true },
  { name: 'policy kind absent from both traces', filter: { policies: [{ kind: 'GlobalNetworkPolicy' }] }, matches: false },
  { name: 'empty policy fields match any hit', filter: { policies: [{ namespace: '', name: '' }] }, matches: true },
  {
    name: 'a policy match never matches a flow without hits',
    filter: { policies: [{}] },
    flow: { policies: { enforced: [], pending: [] } },
    matches: false
  },
  {
    name: 'an end-of-tier hit matches through its trigger',
    filter: { policies: [{ name: 'default-deny', action: 'Deny' }] },
    flow: { action: 'Deny', policies: { enforced: [endOfTierDeny], pending: [endOfTierDeny] } },
    matches: true
  },
  {
    name: 'an end-of-tier hit matches its own kind',
    filter: { policies: [{ kind: 'EndOfTier', tier: 'default' }] },
    flow: { action: 'Deny', policies: { enforced: [endOfTierDeny], pending: [endOfTierDeny] } },
    matches: true
  },
  {
    name: 'a match through the trigger still needs the hit action',
    filter: { policies: [{ name: 'default-deny', action: 'Allow' }] },
    flow: { action: 'Deny', policies: { enforced: [endOfTierDeny], pending: [endOfTierDeny] } },
    matches: false
  },
  { name: 'pendingChangedOnly keeps a changed flow', filter: { pendingChangedOnly: true }, matches: true },
  {
    name: 'pendingChangedOnly drops an unchanged flow',
    filter: { pendingChangedOnly: true },
    flow: { policies: { enforced: [allowFrontend], pending: [allowFrontend] } },
    matches: false
  }
]

for (const c of cases) {
  test(`matchesFlowFilter: ${c.name}`, () => {
    assert.equal(matchesFlowFilter(flowFilter(c.filter), flow(c.flow)), c.matches)
  })
}

test('isEmptyFlowFilter is true only for a filter without conditions', () => {
  assert.equal(isEmptyFlowFilter(EMPTY_FLOW_FILTER), true)
  assert.equal(isEmptyFlowFilter(flowFilter({ destPorts: [80] })), false)
  assert.equal(isEmptyFlowFilter(flowFilter({ pendingChangedOnly: true })), false)
})

const verdicts: Array<{ name: string, pending: PolicyHit[], enforcedAction: 'Allow' | 'Deny', pendingAction: 'Allow' | 'Deny', changed: boolean }> = [
  { name: 'an empty trace allows', pending: [], enforcedAction: 'Allow', pendingAction: 'Allow', changed: false },
  { name: 'an empty trace allows a flow enforced as Deny', pending: [], enforcedAction: 'Deny', pendingAction: 'Allow', changed: true },
  { name: 'the last hit decides', pending: [passHit, stagedDeny], enforcedAction: 'Allow', pendingAction: 'Deny', changed: true },
  { name: 'a trace ending in Pass allows', pending: [passHit], enforcedAction: 'Deny', pendingAction: 'Allow', changed: true },
  { name: 'an end-of-tier Deny', pending: [endOfTierDeny], enforcedAction: 'Deny', pendingAction: 'Deny', changed: false }
]

for (const v of verdicts) {
  test(`pendingAction/isPendingChanged: ${v.name}`, () => {
    const key = flow({ action: v.enforcedAction, policies: { enforced: [], pending: v.pending } }).key
    assert.equal(pendingAction(key), v.pendingAction)
    assert.equal(isPendingChanged(key), v.changed)
  })
}
