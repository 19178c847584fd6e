// The API resources the agent watches: what `--kubernetes` reads and what the ClusterRole in deploy/base grants
// (get/list/watch on exactly these). Calico's kinds are served either by its API server (projectcalico.org/v3)
// or only as CRDs (crd.projectcalico.org/v1); discovery picks one per kind (calico-api-discovery.ts).

/** How an object of a resource is used. */
export type ResourceRole = 'inventory' | 'policy'

/** One watched resource. */
export interface KubeResource {
  /** Plural resource name, as in RBAC rules and URLs. */
  readonly plural: string
  /** API group ('' for core). */
  readonly group: string
  readonly version: string
  /** Kind of the objects, as the API returns them. */
  readonly kind: string
  readonly namespaced: boolean
  readonly role: ResourceRole
}

/** The Calico kinds, by plural name (the same under projectcalico.org/v3 and crd.projectcalico.org/v1). */
export const CALICO_KINDS: ReadonlyArray<{ plural: string, kind: string, namespaced: boolean, role: ResourceRole }> = Object.freeze([
  { plural: 'tiers', kind: 'Tier', namespaced: false, role: 'policy' },
  { plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, role: 'policy' },
  { plural: 'globalnetworkpolicies', kind: 'GlobalNetworkPolicy', namespaced: false, role: 'policy' },
  { plural: 'stagednetworkpolicies', kind: 'StagedNetworkPolicy', namespaced: true, role: 'policy' },
  { plural: 'stagedglobalnetworkpolicies', kind: 'StagedGlobalNetworkPolicy', namespaced: false, role: 'policy' },
  { plural: 'stagedkubernetesnetworkpolicies', kind: 'StagedKubernetesNetworkPolicy', namespaced: true, role: 'policy' },
  { plural: 'networksets', kind: 'NetworkSet', namespaced: true, role: 'inventory' },
  { plural: 'globalnetworksets', kind: 'GlobalNetworkSet', namespaced: false, role: 'inventory' },
  { plural: 'hostendpoints', kind: 'HostEndpoint', namespaced: false, role: 'inventory' }
])

/** Calico's aggregated API (served by the Calico API server). */
export const CALICO_V3 = { group: 'projectcalico.org', version: 'v3' } as const
/** Calico's storage CRDs (always present where Calico runs on the Kubernetes datastore). */
export const CALICO_CRD = { group: 'crd.projectcalico.org', version: 'v1' } as const

/** Kubernetes resources, always watched. EndpointSlices are not: the endpoint index needs no backend list. */
export const KUBERNETES_RESOURCES: readonly KubeResource[] = Object.freeze([
  { plural: 'namespaces', group: '', version: 'v1', kind: 'Namespace', namespaced: false, role: 'inventory' },
  { plural: 'pods', group: '', version: 'v1', kind: 'Pod', namespaced: true, role: 'inventory' },
  { plural: 'serviceaccounts', group: '', version: 'v1', kind: 'ServiceAccount', namespaced: true, role: 'inventory' },
  { plural: 'services', group: '', version: 'v1', kind: 'Service', namespaced: true, role: 'inventory' },
  { plural: 'networkpolicies', group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', namespaced: true, role: 'policy' }
])

/** `apiVersion` of a resource's objects. */
export function apiVersionOf (r: Pick<KubeResource, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`
}

/** The cluster-wide collection URL path (`/api/v1/pods`, `/apis/projectcalico.org/v3/tiers`). */
export function collectionPath (r: KubeResource): string {
  return r.group === '' ? `/api/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/${r.plural}`
}

/** `plural.group` as in `kubectl get` and log lines. */
export function resourceName (r: KubeResource): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`
}
