// The domain form of Goldmane's flow filter, shared by the aggregator's queries and the node's NodeFlows service,
// and the pending-verdict helpers both ends need. Goldmane's semantics: the values of one field are alternatives
// (OR), the fields together must all hold (AND), an empty field matches everything; Fuzzy is a substring match.
import type { FlowKey, FlowLog } from './flow-log.js'
import type { PolicyHit } from '../policy/policy-hit.js'

/** Goldmane's MatchType: Exact equality or Fuzzy (substring) match. */
export type StringMatchType = 'Exact' | 'Fuzzy'

/** One accepted value of a string field. */
export interface StringMatch {
  readonly value: string
  readonly type: StringMatchType
}

/** Matches a policy hit; an omitted field matches anything. */
export interface PolicyMatch {
  readonly kind?: PolicyHit['kind']
  readonly tier?: string
  readonly namespace?: string
  readonly name?: string
  readonly action?: PolicyHit['action']
}

/** A flow filter: AND across fields, OR within one; empty fields match everything. */
export interface FlowFilter {
  readonly sourceNames: readonly StringMatch[]
  readonly sourceNamespaces: readonly StringMatch[]
  readonly destNames: readonly StringMatch[]
  readonly destNamespaces: readonly StringMatch[]
  /** Compared case-insensitively: the key holds `tcp`, people type `TCP`. */
  readonly protocols: readonly StringMatch[]
  readonly destPorts: readonly number[]
  /** Matched against the key's (enforced) action. */
  readonly actions: readonly PolicyHit['action'][]
  /** A flow matches a policy match when any hit of its enforced or pending trace does. */
  readonly policies: readonly PolicyMatch[]
  /** Only flows whose pending action differs from the enforced one. */
  readonly pendingChangedOnly: boolean
}

/** The filter that matches every flow. */
export const EMPTY_FLOW_FILTER: FlowFilter = Object.freeze({
  sourceNames: [],
  sourceNamespaces: [],
  destNames: [],
  destNamespaces: [],
  protocols: [],
  destPorts: [],
  actions: [],
  policies: [],
  pendingChangedOnly: false
})

/** A complete FlowFilter from the fields given (the rest empty). */
export function flowFilter (fields: Partial<FlowFilter> = {}): FlowFilter {
  return { ...EMPTY_FLOW_FILTER, ...fields }
}

/** True when the filter matches everything (lets callers skip filtering). */
export function isEmptyFlowFilter (filter: FlowFilter): boolean {
  return filter.sourceNames.length === 0 && filter.sourceNamespaces.length === 0 && filter.destNames.length === 0 &&
    filter.destNamespaces.length === 0 && filter.protocols.length === 0 && filter.destPorts.length === 0 &&
    filter.actions.length === 0 && filter.policies.length === 0 && !filter.pendingChangedOnly
}

/** Whether a flow log passes the filter (every filter field is a key field, so this is matchesFlowKey). */
export function matchesFlowFilter (filter: FlowFilter, flow: FlowLog): boolean {
  return matchesFlowKey(filter, flow.key)
}

/** Whether a flow key passes the filter. */
export function matchesFlowKey (filter: FlowFilter, key: FlowKey): boolean {
  return matchesStrings(filter.sourceNames, key.sourceName, false) &&
    matchesStrings(filter.sourceNamespaces, key.sourceNamespace, false) &&
    matchesStrings(filter.destNames, key.destName, false) &&
    matchesStrings(filter.destNamespaces, key.destNamespace, false) &&
    matchesStrings(filter.protocols, key.proto, true) &&
    (filter.destPorts.length === 0 || filter.destPorts.includes(key.destPort)) &&
    (filter.actions.length === 0 || filter.actions.includes(key.action)) &&
    (filter.policies.length === 0 || filter.policies.some(match =>
      key.policies.enforced.some(hit => matchesPolicyHit(match, hit)) ||
      key.policies.pending.some(hit => matchesPolicyHit(match, hit)))) &&
    (!filter.pendingChangedOnly || isPendingChanged(key))
}

/** Whether one string value is accepted by a list of string matches (empty list: always). */
export function matchesStrings (matches: readonly StringMatch[], value: string, ignoreCase = false): boolean {
  if (matches.length === 0) return true
  const subject = ignoreCase ? value.toLowerCase() : value
  return matches.some(match => {
    const wanted = ignoreCase ? match.value.toLowerCase() : match.value
    return match.type === 'Fuzzy' ? subject.includes(wanted) : subject === wanted
  })
}

/**
 * Whether a policy hit is matched. An end-of-tier hit also matches through its trigger (the policy whose tier
 * ended, with the hit's action), so "name=backend-deny action=Deny" finds the flows that policy's tier denied by
 * default — the hit a person means when they name the policy. `kind: 'EndOfTier'` still selects the hit itself.
 */
export function matchesPolicyHit (match: PolicyMatch, hit: PolicyHit): boolean {
  if (policyFieldsMatch(match, hit.kind, hit.tier, hit.namespace, hit.name, hit.action)) return true
  const trigger = hit.trigger
  return trigger !== undefined &&
    policyFieldsMatch(match, trigger.kind, trigger.tier, trigger.namespace, trigger.name, hit.action)
}

function policyFieldsMatch (match: PolicyMatch, kind: PolicyHit['kind'], tier: string, namespace: string,
  name: string, action: PolicyHit['action']): boolean {
  return (match.kind === undefined || match.kind === kind) &&
    (match.tier === undefined || match.tier === '' || match.tier === tier) &&
    (match.namespace === undefined || match.namespace === '' || match.namespace === namespace) &&
    (match.name === undefined || match.name === '' || match.name === name) &&
    (match.action === undefined || match.action === action)
}

/**
 * The pending verdict at the reporting end: the action of the last hit of the pending trace (a deciding hit ends
 * a trace). A trace that ends in Pass, or is empty because no policy applied, allows, as Calico's profiles do
 * after the last tier.
 */
export function pendingAction (key: FlowKey): 'Allow' | 'Deny' {
  const trace = key.policies.pending
  return trace[trace.length - 1]?.action === 'Deny' ? 'Deny' : 'Allow'
}

/** Whether the flow's pending action differs from its enforced one (the flows the impact preview is about). */
export function isPendingChanged (key: FlowKey): boolean {
  return pendingAction(key) !== key.action
}
