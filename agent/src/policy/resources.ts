// TypeScript mirror of the API resources shadowflow reads: projectcalico.org/v3, networking.k8s.io/v1 and the
// core/v1 inventory. Field names and shapes are exactly the API's (what `kubectl get -o yaml` prints), so a
// validated document can be typed as one of these without conversion. Validation lives in `validate-resource.ts`;
// these types only describe documents that passed it.

export type Labels = Readonly<Record<string, string>>

export interface ObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  generateName?: string
  uid?: string
  resourceVersion?: string
  creationTimestamp?: string
  [extra: string]: unknown
}

// ---------------------------------------------------------------------------------------------------------------
// projectcalico.org/v3

export type RuleAction = 'Allow' | 'Deny' | 'Log' | 'Pass'
export type PolicyType = 'Ingress' | 'Egress'
/** Protocol as the API takes it: a name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or a number 1–255. */
export type Protocol = string | number
/** A port as the API takes it: a number, a range "min:max" or a named port. */
export type Port = number | string

export interface IcmpFields {
  type?: number
  code?: number
}

export interface ServiceAccountMatch {
  names?: string[]
  selector?: string
}

export interface ServiceMatch {
  name: string
  namespace?: string
}

export interface EntityRule {
  nets?: string[]
  notNets?: string[]
  selector?: string
  notSelector?: string
  namespaceSelector?: string
  ports?: Port[]
  notPorts?: Port[]
  serviceAccounts?: ServiceAccountMatch
  services?: ServiceMatch
}

export interface HttpMatch {
  methods?: string[]
  paths?: Array<{ exact?: string, prefix?: string }>
}

export interface Rule {
  action: RuleAction
  protocol?: Protocol
  notProtocol?: Protocol
  icmp?: IcmpFields
  notICMP?: IcmpFields
  ipVersion?: 4 | 6
  source?: EntityRule
  destination?: EntityRule
  http?: HttpMatch
  metadata?: { annotations?: Record<string, string> }
}

/** spec of NetworkPolicy / StagedNetworkPolicy (namespaced). */
export interface NetworkPolicySpec {
  tier?: string
  order?: number
  selector?: string
  serviceAccountSelector?: string
  types?: PolicyType[]
  ingress?: Rule[]
  egress?: Rule[]
  performanceHints?: string[]
}

/** spec of GlobalNetworkPolicy / StagedGlobalNetworkPolicy. */
export interface GlobalNetworkPolicySpec extends NetworkPolicySpec {
  namespaceSelector?: string
  doNotTrack?: boolean
  preDNAT?: boolean
  applyOnForward?: boolean
}

export type StagedAction = 'Set' | 'Delete'

export interface CalicoNetworkPolicy {
  apiVersion: 'projectcalico.org/v3'
  kind: 'NetworkPolicy'
  metadata: ObjectMeta
  spec: NetworkPolicySpec
}

export interface CalicoGlobalNetworkPolicy {
  apiVersion: 'projectcalico.org/v3'
  kind: 'GlobalNetworkPolicy'
  metadata: ObjectMeta
  spec: GlobalNetworkPolicySpec
}

export interface StagedNetworkPolicy {
  apiVersion: 'projectcalico.org/v3'
  kind: 'StagedNetworkPolicy'
  metadata: ObjectMeta
  spec: NetworkPolicySpec & { stagedAction?: StagedAction }
}

export interface StagedGlobalNetworkPolicy {
  apiVersion: 'projectcalico.org/v3'
  kind: 'StagedGlobalNetworkPolicy'
  metadata: ObjectMeta
  spec: GlobalNetworkPolicySpec & { stagedAction?: StagedAction }
}

export interface StagedKubernetesNetworkPolicy {
  apiVersion: 'projectcalico.org/v3'
  kind: 'StagedKubernetesNetworkPolicy'
  metadata: ObjectMeta
  spec: K8sNetworkPolicySpec & { stagedAction?: StagedAction }
}

export interface Tier {
  apiVersion: 'projectcalico.org/v3'
  kind: 'Tier'
  metadata: ObjectMeta
  spec: { order?: number, defaultAction?: 'Deny' | 'Pass' }
}

export interface NetworkSet {
  apiVersion: 'projectcalico.org/v3'
  kind: 'NetworkSet'
  metadata: ObjectMeta
  spec: { nets?: string[], allowedEgressDomains?: string[] }
}

export interface GlobalNetworkSet {
  apiVersion: 'projectcalico.org/v3'
  kind: 'GlobalNetworkSet'
  metadata: ObjectMeta
  spec: { nets?: string[], allowedEgressDomains?: string[] }
}

export interface EndpointPort {
  name: string
  protocol: 'TCP' | 'UDP' | 'SCTP'
  port: number
}

export interface HostEndpoint {
  apiVersion: 'projectcalico.org/v3'
  kind: 'HostEndpoint'
  metadata: ObjectMeta
  spec: { node?: string, interfaceName?: string, expectedIPs?: string[], profiles?: string[], ports?: EndpointPort[] }
}

// ---------------------------------------------------------------------------------------------------------------
// networking.k8s.io/v1

export interface LabelSelectorRequirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values?: string[]
}

export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}

export interface K8sNetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP'
  port?: number | string
  endPort?: number
}

export interface K8sNetworkPolicyPeer {
  podSelector?: LabelSelector
  namespaceSelector?: LabelSelector
  ipBlock?: { cidr: string, except?: string[] }
}

export interface K8sNetworkPolicySpec {
  podSelector: LabelSelector
  policyTypes?: PolicyType[]
  ingress?: Array<{ from?: K8sNetworkPolicyPeer[], ports?: K8sNetworkPolicyPort[] }>
  egress?: Array<{ to?: K8sNetworkPolicyPeer[], ports?: K8sNetworkPolicyPort[] }>
}

export interface K8sNetworkPolicy {
  apiVersion: 'networking.k8s.io/v1'
  kind: 'NetworkPolicy'
  metadata: ObjectMeta
  spec: K8sNetworkPolicySpec
}

// ---------------------------------------------------------------------------------------------------------------
// core/v1 inventory

export interface Namespace {
  apiVersion: 'v1'
  kind: 'Namespace'
  metadata: ObjectMeta
}

export interface ServiceAccount {
  apiVersion: 'v1'
  kind: 'ServiceAccount'
  metadata: ObjectMeta
}

export interface ContainerPort {
  name?: string
  containerPort: number
  protocol?: 'TCP' | 'UDP' | 'SCTP'
}

export interface Pod {
  apiVersion: 'v1'
  kind: 'Pod'
  metadata: ObjectMeta
  spec: {
    nodeName?: string
    serviceAccountName?: string
    hostNetwork?: boolean
    containers: Array<{ name: string, image?: string, ports?: ContainerPort[], [extra: string]: unknown }>
    [extra: string]: unknown
  }
  status?: { phase?: string, podIP?: string, podIPs?: Array<{ ip: string }>, [extra: string]: unknown }
}

export interface ServicePort {
  name?: string
  protocol?: 'TCP' | 'UDP' | 'SCTP'
  port: number
  targetPort?: number | string
}

export interface Service {
  apiVersion: 'v1'
  kind: 'Service'
  metadata: ObjectMeta
  spec: { selector?: Record<string, string>, ports?: ServicePort[], clusterIP?: string, clusterIPs?: string[], type?: string, [extra: string]: unknown }
}

export type CalicoPolicyResource =
  | CalicoNetworkPolicy | CalicoGlobalNetworkPolicy
  | StagedNetworkPolicy | StagedGlobalNetworkPolicy | StagedKubernetesNetworkPolicy

/** Every resource kind shadowflow understands, after validation. */
export type Resource =
  | CalicoPolicyResource | K8sNetworkPolicy | Tier | NetworkSet | GlobalNetworkSet | HostEndpoint
  | Namespace | ServiceAccount | Pod | Service

/** Where a resource came from, for error messages and `validate`. */
export interface ResourceOrigin {
  file: string
  /** 1-based line of the document's first line (or of the `kind: List` item). */
  line: number
}

/** A validated resource together with its origin. */
export interface LoadedResource {
  resource: Resource
  origin: ResourceOrigin
}
