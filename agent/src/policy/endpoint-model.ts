// The entities policy is evaluated on and matched against: workload endpoints (pods), host endpoints and
// network sets, plus the namespaces, service accounts and services rules refer to. `EndpointDirectory` is the
// small interface the evaluator depends on; `endpoints/` implements it from files or the Kubernetes API.
import type { Cidr, IpAddress } from './ip-address.js'
import type { Labels } from './resources.js'

/** A named port of an endpoint (container port with a name, or a host endpoint port). */
export interface NamedPort {
  readonly name: string
  /** Protocol number (6 TCP, 17 UDP, 132 SCTP). */
  readonly protocol: number
  readonly port: number
}

interface EntityBase {
  /** Dense id, unique within one directory generation; indexes per-selector match caches. */
  readonly id: number
  readonly name: string
  /** Labels as selectors see them, including Calico's implicit ones (projectcalico.org/namespace, …). */
  readonly labels: Labels
}

/** A pod, as Calico's workload endpoint. */
export interface WorkloadEndpoint extends EntityBase {
  readonly kind: 'workload'
  readonly namespace: string
  readonly serviceAccount: string
  readonly ips: readonly IpAddress[]
  readonly namedPorts: readonly NamedPort[]
  readonly nodeName: string | undefined
  /** The pod's generateName-aggregated name (`frontend-7d4f9-*`) for flow logs. */
  readonly aggregatedName: string
}

/** A Calico HostEndpoint. */
export interface HostEndpointEntity extends EntityBase {
  readonly kind: 'host'
  readonly namespace: undefined
  readonly ips: readonly IpAddress[]
  readonly namedPorts: readonly NamedPort[]
  readonly profiles: readonly string[]
  readonly nodeName: string | undefined
}

/** A NetworkSet (namespaced) or GlobalNetworkSet (namespace undefined). */
export interface NetworkSetEntity extends EntityBase {
  readonly kind: 'networkset'
  readonly namespace: string | undefined
  readonly nets: readonly Cidr[]
}

/** An endpoint policy is enforced on. */
export type PolicyEndpoint = WorkloadEndpoint | HostEndpointEntity

/** Anything a rule selector can match. */
export type Entity = PolicyEndpoint | NetworkSetEntity

export interface NamespaceEntity {
  readonly name: string
  /** Namespace labels plus `projectcalico.org/name` and `kubernetes.io/metadata.name`. */
  readonly labels: Labels
}

export interface ServiceAccountEntity {
  readonly namespace: string
  readonly name: string
  readonly labels: Labels
}

export interface ServicePortEntity {
  readonly name: string | undefined
  readonly protocol: number
  readonly port: number
  /** Number, or a container port name resolved per backend pod. */
  readonly targetPort: number | string
}

export interface ServiceEntity {
  readonly namespace: string
  readonly name: string
  /** Pod selector; undefined for a Service without selector (its backends are not known from the inventory). */
  readonly selector: Labels | undefined
  readonly ports: readonly ServicePortEntity[]
  readonly clusterIps: readonly IpAddress[]
}

/** What the evaluator needs to know about the cluster. */
export interface EndpointDirectory {
  /** Entities an address belongs to: the endpoint that owns it (if any) first, then every network set containing it. */
  entitiesForIp: (ip: IpAddress) => readonly Entity[]
  /** The endpoint that owns an address, if any. */
  endpointForIp: (ip: IpAddress) => PolicyEndpoint | undefined
  namespace: (name: string) => NamespaceEntity | undefined
  serviceAccount: (namespace: string, name: string) => ServiceAccountEntity | undefined
  service: (namespace: string, name: string) => ServiceEntity | undefined
  /** The service a cluster IP belongs to, if any. */
  serviceForIp: (ip: IpAddress) => ServiceEntity | undefined
  /** Upper bound of entity ids, for sizing caches. */
  readonly entityCount: number
}

/** Calico's implicit workload-endpoint labels. */
export const LABEL_NAMESPACE = 'projectcalico.org/namespace'
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator'
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount'
export const LABEL_NAMESPACE_NAME = 'projectcalico.org/name'
export const LABEL_K8S_NAMESPACE_NAME = 'kubernetes.io/metadata.name'
