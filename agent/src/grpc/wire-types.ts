// TypeScript shapes of the proto messages as @grpc/proto-loader hands them over with PROTO_LOADER_OPTIONS
// (load-protos.ts): camelCase field names (Goldmane's `Key` and `totalPages` keep their case), enums as their
// names, int64 as number, every scalar and repeated field present with its default, unset message fields null.
// When sending, the same shapes are accepted (message fields may be omitted). A peer can send an enum number
// this build does not know; proto-loader then passes the number through, so code that maps enums checks them
// (goldmane-mapping.ts) instead of trusting these types.

/** goldmane.Action */
export type WireAction = 'ActionUnspecified' | 'Allow' | 'Deny' | 'Pass'
/** goldmane.MatchType */
export type WireMatchType = 'Exact' | 'Fuzzy'
/** goldmane.FilterType */
export type WireFilterType = 'FilterTypeUnspecified' | 'FilterTypeDestName' | 'FilterTypeSourceName' |
'FilterTypeDestNamespace' | 'FilterTypeSourceNamespace' | 'FilterTypePolicyTier' | 'FilterTypePolicyName'
/** goldmane.PolicyKind */
export type WirePolicyKind = 'KindUnspecified' | 'CalicoNetworkPolicy' | 'GlobalNetworkPolicy' | 'StagedNetworkPolicy' |
'StagedGlobalNetworkPolicy' | 'StagedKubernetesNetworkPolicy' | 'NetworkPolicy' | 'ClusterNetworkPolicyAdminTier' |
'ClusterNetworkPolicyBaselineTier' | 'Profile' | 'EndOfTier'
/** goldmane.SortBy */
export type WireSortBy = 'Time' | 'DestName' | 'DestNamespace' | 'DestType' | 'SourceName' | 'SourceNamespace' | 'SourceType'
/** goldmane.EndpointType */
export type WireEndpointType = 'EndpointTypeUnspecified' | 'WorkloadEndpoint' | 'HostEndpoint' | 'NetworkSet' | 'Network'
/** goldmane.Reporter */
export type WireReporter = 'ReporterUnspecified' | 'Src' | 'Dst'
/** goldmane.StatisticType */
export type WireStatisticType = 'PacketCount' | 'ByteCount' | 'LiveConnectionCount'
/** goldmane.StatisticsGroupBy */
export type WireStatisticsGroupBy = 'Policy' | 'PolicyRule'
/** goldmane.RuleDirection */
export type WireRuleDirection = 'Any' | 'Ingress' | 'Egress'

/** goldmane.PolicyHit */
export interface WirePolicyHit {
  kind: WirePolicyKind
  namespace: string
  name: string
  tier: string
  action: WireAction
  policyIndex: number
  ruleIndex: number
  trigger?: WirePolicyHit | null
}

/** goldmane.PolicyTrace */
export interface WirePolicyTrace {
  enforcedPolicies: WirePolicyHit[]
  pendingPolicies: WirePolicyHit[]
}

/** goldmane.FlowKey */
export interface WireFlowKey {
  sourceName: string
  sourceNamespace: string
  sourceType: WireEndpointType
  destName: string
  destNamespace: string
  destType: WireEndpointType
  destPort: number
  destServiceName: string
  destServiceNamespace: string
  destServicePortName: string
  destServicePort: number
  proto: string
  reporter: WireReporter
  action: WireAction
  policies?: WirePolicyTrace | null
}

/** goldmane.Flow (the key field is `Key`, capitalised as in Goldmane's proto). */
export interface WireFlow {
  Key?: WireFlowKey | null
  startTime: number
  endTime: number
  sourceLabels: string[]
  destLabels: string[]
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  numConnectionsStarted: number
  numConnectionsCompleted: number
  numConnectionsLive: number
}

/** goldmane.StringMatch */
export interface WireStringMatch { value: string, type: WireMatchType }
/** goldmane.PortMatch */
export interface WirePortMatch { port: number }
/** goldmane.PolicyMatch */
export interface WirePolicyMatch {
  kind: WirePolicyKind
  tier: string
  namespace: string
  name: string
  action: WireAction
}

/** goldmane.Filter */
export interface WireFilter {
  sourceNames: WireStringMatch[]
  sourceNamespaces: WireStringMatch[]
  destNames: WireStringMatch[]
  destNamespaces: WireStringMatch[]
  protocols: WireStringMatch[]
  destPorts: WirePortMatch[]
  actions: WireAction[]
  policies: WirePolicyMatch[]
}

/** goldmane.SortOption */
export interface WireSortOption { sortBy: WireSortBy }
/** goldmane.ListMetadata (field names as Goldmane spells them). */
export interface WireListMetadata { totalPages: number, totalResults: number }
/** goldmane.FlowResult */
export interface WireFlowResult { id: number, flow?: WireFlow | null }
/** goldmane.FlowUpdate */
export interface WireFlowUpdate { flow?: WireFlow | null }
/** goldmane.FlowReceipt */
export type WireFlowReceipt = Record<string, never>

/** goldmane.FlowListRequest */
export interface WireFlowListRequest {
  startTimeGte: number
  startTimeLt: number
  page: number
  pageSize: number
  sortBy: WireSortOption[]
  filter?: WireFilter | null
  aggregationInterval: number
}
/** goldmane.FlowListResult */
export interface WireFlowListResult { meta?: WireListMetadata | null, flows: WireFlowResult[] }
/** goldmane.FlowStreamRequest */
export interface WireFlowStreamRequest { startTimeGte: number, filter?: WireFilter | null, aggregationInterval: number }
/** goldmane.FilterHintsRequest */
export interface WireFilterHintsRequest {
  type: WireFilterType
  filter?: WireFilter | null
  startTimeGte: number
  startTimeLt: number
  page: number
  pageSize: number
}
/** goldmane.FilterHint */
export interface WireFilterHint { value: string }
/** goldmane.FilterHintsResult */
export interface WireFilterHintsResult { meta?: WireListMetadata | null, hints: WireFilterHint[] }
/** goldmane.StatisticsRequest */
export interface WireStatisticsRequest {
  startTimeGte: number
  startTimeLt: number
  type: WireStatisticType
  groupBy: WireStatisticsGroupBy
  policyMatch?: WirePolicyMatch | null
  timeSeries: boolean
}
/** goldmane.StatisticsResult */
export interface WireStatisticsResult {
  policy?: WirePolicyHit | null
  direction: WireRuleDirection
  groupBy: WireStatisticsGroupBy
  type: WireStatisticType
  allowedIn: number[]
  allowedOut: number[]
  deniedIn: number[]
  deniedOut: number[]
  passedIn: number[]
  passedOut: number[]
  x: number[]
}

// ---- shadowflow.v1 (proto/shadowflow/v1/node_flows.proto) ----

/** shadowflow.v1.FlowKind */
export type WireFlowKind = 'FLOW_LOGS' | 'RAW_FLOWS'
/** shadowflow.v1.ExporterState */
export type WireExporterState = 'EXPORTER_STATE_UNSPECIFIED' | 'EXPORTER_DISABLED' | 'EXPORTER_CONNECTING' |
'EXPORTER_CONNECTED' | 'EXPORTER_BACKOFF' | 'EXPORTER_STOPPED'

/** shadowflow.v1.GetFlowsRequest */
export interface WireGetFlowsRequest {
  filter?: WireFilter | null
  pendingChangedOnly: boolean
  follow: boolean
  since: number
  number: number
  which: WireFlowKind
}

/** shadowflow.v1.RawFlow */
export interface WireRawFlow {
  proto: string
  sourceIp: string
  destIp: string
  sourcePort: number
  destPort: number
  packetsForward: number
  bytesForward: number
  packetsReverse: number
  bytesReverse: number
  firstSeenMs: number
  lastSeenMs: number
  enforcedAction: WireAction
  pendingAction: WireAction
  sourcePolicies?: WirePolicyTrace | null
  destPolicies?: WirePolicyTrace | null
  sourceName: string
  sourceNamespace: string
  sourceType: WireEndpointType
  destName: string
  destNamespace: string
  destType: WireEndpointType
  destServiceName: string
  destServiceNamespace: string
  destServicePortName: string
  destServicePort: number
  endReason: string
  unobservable: string[]
}

/**
 * shadowflow.v1.GetFlowsResponse. On receipt, `result` names the member that is set (oneofs: true); when
 * sending, set exactly one of `flow` / `rawFlow` and leave `result` out.
 */
export interface WireGetFlowsResponse {
  flow?: WireFlow | null
  rawFlow?: WireRawFlow | null
  result?: 'flow' | 'rawFlow'
}

/** shadowflow.v1.GetStatusRequest */
export type WireGetStatusRequest = Record<string, never>
/** shadowflow.v1.TapStatus */
export interface WireTapStatus { description: string, open: boolean, counters: Record<string, number> }
/** shadowflow.v1.PolicyStatus */
export interface WirePolicyStatus {
  generation: number
  policiesLoaded: number
  stagedPoliciesLoaded: number
  reloadErrors: number
  lastError: string
  lastReloadTime: number
}
/** shadowflow.v1.ExporterStatus */
export interface WireExporterStatus {
  state: WireExporterState
  aggregator: string
  queueFlows: number
  queueBytes: number
  updatesSent: number
  acks: number
  reconnects: number
  dropped: number
  lastAckTime: number
}
/** shadowflow.v1.NodeStatus */
export interface WireNodeStatus {
  node: string
  queryAddress: string
  startTime: number
  uptimeSeconds: number
  tap?: WireTapStatus | null
  dropsByReason: Record<string, number>
  policy?: WirePolicyStatus | null
  exporter?: WireExporterStatus | null
  version: string
}

// ---- shadowflow.v1 (proto/shadowflow/v1/impact.proto) ----

/** shadowflow.v1.ImpactRequest */
export interface WireImpactRequest {
  startTimeGte: number
  startTimeLt: number
  filter?: WireFilter | null
  maxExamples: number
}
/** shadowflow.v1.ImpactTotals */
export interface WireImpactTotals {
  flows: number
  connections: number
  bytes: number
  packets: number
  newlyAllowed: number
  newlyDenied: number
}
/** shadowflow.v1.ImpactGroup */
export interface WireImpactGroup {
  policy?: WirePolicyHit | null
  totals?: WireImpactTotals | null
  examples: WireFlow[]
}
/** shadowflow.v1.ImpactReport */
export interface WireImpactReport {
  startTimeGte: number
  startTimeLt: number
  considered?: WireImpactTotals | null
  changed?: WireImpactTotals | null
  groups: WireImpactGroup[]
}
/** shadowflow.v1.ListNodesRequest */
export type WireListNodesRequest = Record<string, never>
/** shadowflow.v1.NodeInfo */
export interface WireNodeInfo {
  name: string
  queryAddress: string
  connected: boolean
  lastUpdateTime: number
  lagSeconds: number
  updatesReceived: number
  duplicatesDropped: number
  connectedSince: number
}
/** shadowflow.v1.ListNodesResponse */
export interface WireListNodesResponse { nodes: WireNodeInfo[] }
/** shadowflow.v1.NodeFlowsFanoutRequest */
export interface WireNodeFlowsFanoutRequest { node: string, request?: WireGetFlowsRequest | null }
/** shadowflow.v1.NodeError: a gRPC status code and message. */
export interface WireNodeError { code: number, message: string }
/**
 * shadowflow.v1.NodeFlowsFanoutResponse. On receipt `result` names the member set; when sending set exactly one
 * of `response` / `error`.
 */
export interface WireNodeFlowsFanoutResponse {
  node: string
  response?: WireGetFlowsResponse | null
  error?: WireNodeError | null
  result?: 'response' | 'error'
}
