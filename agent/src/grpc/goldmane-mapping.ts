// Domain ⇄ wire for Goldmane's messages: FlowLog ⇄ goldmane.Flow, PolicyHit ⇄ goldmane.PolicyHit, FlowFilter ⇄
// goldmane.Filter. Outgoing mapping is total; incoming mapping validates what a peer could get wrong (missing
// key, enum values the domain cannot hold, counters that are negative or not integers) and throws a
// RequestInvalidError naming the field path, which grpc-status.ts turns into INVALID_ARGUMENT.
import { RequestInvalidError } from '../errors.js'
import type { EndpointType, FlowKey, FlowLog, Reporter } from '../flows/flow-log.js'
import type { FlowFilter, PolicyMatch, StringMatch } from '../flows/flow-filter.js'
import type { PolicyHit, PolicyTrigger, TracedPolicyKind } from '../policy/policy-hit.js'
import type {
  WireAction, WireEndpointType, WireFilter, WireFlow, WireFlowKey, WirePolicyHit, WirePolicyKind, WirePolicyMatch,
  WirePolicyTrace, WireReporter, WireStringMatch
} from './wire-types.js'

const POLICY_KINDS: ReadonlySet<string> = new Set<TracedPolicyKind>([
  'CalicoNetworkPolicy', 'GlobalNetworkPolicy', 'NetworkPolicy',
  'StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy',
  'ClusterNetworkPolicyAdminTier', 'ClusterNetworkPolicyBaselineTier'
])
const HIT_KINDS: ReadonlySet<string> = new Set([...POLICY_KINDS, 'Profile', 'EndOfTier'])
const ENDPOINT_TYPES: ReadonlySet<string> = new Set<EndpointType>(['WorkloadEndpoint', 'HostEndpoint', 'NetworkSet', 'Network'])
const HIT_ACTIONS: ReadonlySet<string> = new Set<PolicyHit['action']>(['Allow', 'Deny', 'Pass'])

// ---- outgoing (domain → wire) ----

/** A domain flow log as a goldmane.Flow message object. */
export function flowLogToWire (flow: FlowLog): WireFlow {
  return {
    Key: flowKeyToWire(flow.key),
    startTime: flow.startTime,
    endTime: flow.endTime,
    sourceLabels: [...flow.sourceLabels],
    destLabels: [...flow.destLabels],
    packetsIn: flow.packetsIn,
    packetsOut: flow.packetsOut,
    bytesIn: flow.bytesIn,
    bytesOut: flow.bytesOut,
    numConnectionsStarted: flow.connectionsStarted,
    numConnectionsCompleted: flow.connectionsCompleted,
    numConnectionsLive: flow.connectionsLive
  }
}

/** A domain flow key as a goldmane.FlowKey message object. */
export function flowKeyToWire (key: FlowKey): WireFlowKey {
  return {
    sourceName: key.sourceName,
    sourceNamespace: key.sourceNamespace,
    sourceType: key.sourceType,
    destName: key.destName,
    destNamespace: key.destNamespace,
    destType: key.destType,
    destPort: key.destPort,
    destServiceName: key.destServiceName,
    destServiceNamespace: key.destServiceNamespace,
    destServicePortName: key.destServicePortName,
    destServicePort: key.destServicePort,
    proto: key.proto,
    reporter: key.reporter,
    action: key.action,
    policies: policyTraceToWire(key.policies.enforced, key.policies.pending)
  }
}

/** Two hit lists as a goldmane.PolicyTrace (also used for RawFlow's per-end traces). */
export function policyTraceToWire (enforced: readonly PolicyHit[], pending: readonly PolicyHit[]): WirePolicyTrace {
  return { enforcedPolicies: enforced.map(policyHitToWire), pendingPolicies: pending.map(policyHitToWire) }
}

/** A domain policy hit as a goldmane.PolicyHit; an end-of-tier hit's trigger becomes a nested PolicyHit. */
export function policyHitToWire (hit: PolicyHit): WirePolicyHit {
  return {
    kind: hit.kind,
    namespace: hit.namespace,
    name: hit.name,
    tier: hit.tier,
    action: hit.action,
    policyIndex: hit.policyIndex,
    ruleIndex: hit.ruleIndex,
    trigger: hit.trigger === undefined ? null : triggerToWire(hit.trigger)
  }
}

// The trigger names a policy, not a decision: Goldmane carries it as a PolicyHit whose action and indices are
// meaningless, so they are left at their defaults.
function triggerToWire (trigger: PolicyTrigger): WirePolicyHit {
  return {
    kind: trigger.kind,
    namespace: trigger.namespace,
    name: trigger.name,
    tier: trigger.tier,
    action: 'ActionUnspecified',
    policyIndex: 0,
    ruleIndex: 0,
    trigger: null
  }
}

/** A domain filter as a goldmane.Filter (pendingChangedOnly has no Goldmane field; it travels beside it). */
export function flowFilterToWire (filter: FlowFilter): WireFilter {
  const strings = (matches: readonly StringMatch[]): WireStringMatch[] => matches.map(m => ({ value: m.value, type: m.type }))
  return {
    sourceNames: strings(filter.sourceNames),
    sourceNamespaces: strings(filter.sourceNamespaces),
    destNames: strings(filter.destNames),
    destNamespaces: strings(filter.destNamespaces),
    protocols: strings(filter.protocols),
    destPorts: filter.destPorts.map(port => ({ port })),
    actions: [...filter.actions],
    policies: filter.policies.map(policyMatchToWire)
  }
}

/** A domain policy match as a goldmane.PolicyMatch (omitted fields become the wire's "any" defaults). */
export function policyMatchToWire (match: PolicyMatch): WirePolicyMatch {
  return {
    kind: match.kind ?? 'KindUnspecified',
    tier: match.tier ?? '',
    namespace: match.namespace ?? '',
    name: match.name ?? '',
    action: match.action ?? 'ActionUnspecified'
  }
}

// ---- incoming (wire → domain), validated ----

/**
 * A received goldmane.Flow as a domain flow log. Throws RequestInvalidError (ERR_REQUEST_INVALID) naming the
 * field, e.g. `flow.Key.policies.pendingPolicies[2].kind`, when the message cannot be a flow shadowflow stores.
 */
export function flowLogFromWire (wire: WireFlow, field = 'flow'): FlowLog {
  if (wire.Key === null || wire.Key === undefined) throw new RequestInvalidError('the flow has no Key', `${field}.Key`)
  const key = flowKeyFromWire(wire.Key, `${field}.Key`)
  const startTime = count(wire.startTime, `${field}.startTime`)
  const endTime = count(wire.endTime, `${field}.endTime`)
  if (endTime < startTime) {
    throw new RequestInvalidError(`endTime ${endTime} is before startTime ${startTime}`, `${field}.endTime`)
  }
  return {
    key,
    startTime,
    endTime,
    sourceLabels: strings(wire.sourceLabels, `${field}.sourceLabels`),
    destLabels: strings(wire.destLabels, `${field}.destLabels`),
    packetsIn: count(wire.packetsIn, `${field}.packetsIn`),
    packetsOut: count(wire.packetsOut, `${field}.packetsOut`),
    bytesIn: count(wire.bytesIn, `${field}.bytesIn`),
    bytesOut: count(wire.bytesOut, `${field}.bytesOut`),
    connectionsStarted: count(wire.numConnectionsStarted, `${field}.numConnectionsStarted`),
    connectionsCompleted: count(wire.numConnectionsCompleted, `${field}.numConnectionsCompleted`),
    connectionsLive: count(wire.numConnectionsLive, `${field}.numConnectionsLive`)
  }
}

/** A received goldmane.FlowKey as a domain key (validated as flowLogFromWire says). */
export function flowKeyFromWire (wire: WireFlowKey, field = 'key'): FlowKey {
  const destPort = count(wire.destPort, `${field}.destPort`)
  if (destPort > 65535) throw new RequestInvalidError(`destPort ${destPort} is not a port (0-65535)`, `${field}.destPort`)
  const destServicePort = count(wire.destServicePort, `${field}.destServicePort`)
  if (destServicePort > 65535) {
    throw new RequestInvalidError(`destServicePort ${destServicePort} is not a port (0-65535)`, `${field}.destServicePort`)
  }
  const action = wire.action
  if (action !== 'Allow' && action !== 'Deny') {
    throw new RequestInvalidError(`a flow's action must be Allow or Deny, not ${String(action)}`, `${field}.action`)
  }
  const enforced = wire.policies?.enforcedPolicies ?? []
  const pending = wire.policies?.pendingPolicies ?? []
  return {
    sourceName: text(wire.sourceName, `${field}.sourceName`),
    sourceNamespace: text(wire.sourceNamespace, `${field}.sourceNamespace`),
    sourceType: endpointType(wire.sourceType, `${field}.sourceType`),
    destName: text(wire.destName, `${field}.destName`),
    destNamespace: text(wire.destNamespace, `${field}.destNamespace`),
    destType: endpointType(wire.destType, `${field}.destType`),
    destPort,
    destServiceName: text(wire.destServiceName, `${field}.destServiceName`),
    destServiceNamespace: text(wire.destServiceNamespace, `${field}.destServiceNamespace`),
    destServicePortName: text(wire.destServicePortName, `${field}.destServicePortName`),
    destServicePort,
    proto: text(wire.proto, `${field}.proto`),
    reporter: reporter(wire.reporter, `${field}.reporter`),
    action,
    policies: {
      enforced: enforced.map((hit, i) => policyHitFromWire(hit, `${field}.policies.enforcedPolicies[${i}]`)),
      pending: pending.map((hit, i) => policyHitFromWire(hit, `${field}.policies.pendingPolicies[${i}]`))
    }
  }
}

/**
 * A received goldmane.PolicyHit as a domain hit. KindUnspecified and ActionUnspecified are rejected (a trace step
 * always names its policy's kind and what it decided); the ClusterNetworkPolicy tiers, which a Calico Felix
 * reports and shadowflow does not evaluate, are kept as they are.
 */
export function policyHitFromWire (wire: WirePolicyHit, field = 'policyHit'): PolicyHit {
  const kind = wire.kind as string
  if (!HIT_KINDS.has(kind)) throw new RequestInvalidError(`policy kind ${String(wire.kind)} is not supported`, `${field}.kind`)
  const action = wire.action as string
  if (!HIT_ACTIONS.has(action)) {
    throw new RequestInvalidError(`a policy hit's action must be Allow, Deny or Pass, not ${String(wire.action)}`, `${field}.action`)
  }
  const ruleIndex = integer(wire.ruleIndex, `${field}.ruleIndex`)
  if (ruleIndex < -1) throw new RequestInvalidError(`ruleIndex ${ruleIndex} is below -1`, `${field}.ruleIndex`)
  const hit: PolicyHit = {
    kind: kind as PolicyHit['kind'],
    namespace: text(wire.namespace, `${field}.namespace`),
    name: text(wire.name, `${field}.name`),
    tier: text(wire.tier, `${field}.tier`),
    action: action as PolicyHit['action'],
    policyIndex: count(wire.policyIndex, `${field}.policyIndex`),
    ruleIndex
  }
  if (wire.trigger === null || wire.trigger === undefined) return hit
  const triggerKind = wire.trigger.kind as string
  if (!POLICY_KINDS.has(triggerKind)) {
    throw new RequestInvalidError(`trigger kind ${String(wire.trigger.kind)} is not a policy kind shadowflow supports`, `${field}.trigger.kind`)
  }
  return {
    ...hit,
    trigger: {
      kind: triggerKind as TracedPolicyKind,
      namespace: text(wire.trigger.namespace, `${field}.trigger.namespace`),
      name: text(wire.trigger.name, `${field}.trigger.name`),
      tier: text(wire.trigger.tier, `${field}.trigger.tier`)
    }
  }
}

/**
 * A received goldmane.Filter (null/undefined = no filter) plus shadowflow's pending_changed_only as a domain
 * filter. Rejects unknown match types and actions, ports outside 0-65535 and unsupported policy kinds.
 */
export function flowFilterFromWire (wire: WireFilter | null | undefined, pendingChangedOnly = false, field = 'filter'): FlowFilter {
  return {
    sourceNames: stringMatches(wire?.sourceNames, `${field}.sourceNames`),
    sourceNamespaces: stringMatches(wire?.sourceNamespaces, `${field}.sourceNamespaces`),
    destNames: stringMatches(wire?.destNames, `${field}.destNames`),
    destNamespaces: stringMatches(wire?.destNamespaces, `${field}.destNamespaces`),
    protocols: stringMatches(wire?.protocols, `${field}.protocols`),
    destPorts: (wire?.destPorts ?? []).map((match, i) => {
      const port = count(match.port, `${field}.destPorts[${i}].port`)
      if (port > 65535) throw new RequestInvalidError(`${port} is not a port (0-65535)`, `${field}.destPorts[${i}].port`)
      return port
    }),
    actions: (wire?.actions ?? []).map((action, i) => {
      if (!HIT_ACTIONS.has(action as string)) {
        throw new RequestInvalidError(`an action filter must be Allow, Deny or Pass, not ${String(action)}`, `${field}.actions[${i}]`)
      }
      return action as PolicyHit['action']
    }),
    policies: (wire?.policies ?? []).map((match, i) => policyMatchFromWire(match, `${field}.policies[${i}]`)),
    pendingChangedOnly
  }
}

/** A received goldmane.PolicyMatch: KindUnspecified, ActionUnspecified and empty strings mean "any". */
export function policyMatchFromWire (wire: WirePolicyMatch, field = 'policyMatch'): PolicyMatch {
  const match: { -readonly [K in keyof PolicyMatch]: PolicyMatch[K] } = {}
  const kind = wire.kind as WirePolicyKind | number
  if (kind !== 'KindUnspecified' && kind !== 0) {
    if (!HIT_KINDS.has(String(kind))) throw new RequestInvalidError(`policy kind ${String(kind)} is not supported`, `${field}.kind`)
    match.kind = kind as PolicyHit['kind']
  }
  const action = wire.action as WireAction | number
  if (action !== 'ActionUnspecified' && action !== 0) {
    if (!HIT_ACTIONS.has(String(action))) throw new RequestInvalidError(`action ${String(action)} is not supported`, `${field}.action`)
    match.action = action as PolicyHit['action']
  }
  if (wire.tier !== '') match.tier = text(wire.tier, `${field}.tier`)
  if (wire.namespace !== '') match.namespace = text(wire.namespace, `${field}.namespace`)
  if (wire.name !== '') match.name = text(wire.name, `${field}.name`)
  return match
}

// ---- validation helpers ----

function stringMatches (wire: readonly WireStringMatch[] | undefined, field: string): StringMatch[] {
  return (wire ?? []).map((match, i) => {
    const type = match.type as string
    if (type !== 'Exact' && type !== 'Fuzzy') {
      throw new RequestInvalidError(`match type must be Exact or Fuzzy, not ${String(match.type)}`, `${field}[${i}].type`)
    }
    return { value: text(match.value, `${field}[${i}].value`), type }
  })
}

// proto-loader fills defaults, so these only fail for objects built by hand or a peer's unknown enum number.
function text (value: unknown, field: string): string {
  if (typeof value !== 'string') throw new RequestInvalidError(`expected a string, got ${typeof value}`, field)
  return value
}

function strings (value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new RequestInvalidError('expected a list of strings', field)
  return value.map((item, i) => text(item, `${field}[${i}]`))
}

function integer (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RequestInvalidError(`expected an integer, got ${String(value)}`, field)
  }
  return value
}

function count (value: unknown, field: string): number {
  const n = integer(value, field)
  if (n < 0) throw new RequestInvalidError(`expected a non-negative integer, got ${n}`, field)
  return n
}

function endpointType (value: WireEndpointType, field: string): EndpointType {
  if (!ENDPOINT_TYPES.has(value as string)) {
    throw new RequestInvalidError(`endpoint type must be WorkloadEndpoint, HostEndpoint, NetworkSet or Network, not ${String(value)}`, field)
  }
  return value as EndpointType
}

function reporter (value: WireReporter, field: string): Reporter {
  if (value !== 'Src' && value !== 'Dst') throw new RequestInvalidError(`reporter must be Src or Dst, not ${String(value)}`, field)
  return value
}
