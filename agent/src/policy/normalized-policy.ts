// Every policy kind reduced to one shape, the v3 (Calico) form, so the pipelines treat them alike: Calico
// NetworkPolicy and GlobalNetworkPolicy as they are, the Staged kinds as their enforced counterparts, and
// Kubernetes NetworkPolicy (and StagedKubernetesNetworkPolicy) converted exactly as libcalico-go's k8s
// conversion does (knp.default.<name>, tier default, order 1000).
import type {
  CalicoPolicyResource, EntityRule, K8sNetworkPolicy, K8sNetworkPolicyPeer, K8sNetworkPolicyPort, K8sNetworkPolicySpec,
  LoadedResource, PolicyType, Port, Resource, ResourceOrigin, Rule, StagedAction
} from './resources.js'
import { k8sLabelSelectorToCalico } from './selector/index.js'
import { LABEL_ORCHESTRATOR } from './endpoint-model.js'

/** Goldmane's PolicyKind names for the policies shadowflow evaluates. */
export type PolicyKind =
  | 'CalicoNetworkPolicy' | 'GlobalNetworkPolicy' | 'NetworkPolicy'
  | 'StagedNetworkPolicy' | 'StagedGlobalNetworkPolicy' | 'StagedKubernetesNetworkPolicy'

/** Kind, namespace, name and tier: how a policy is reported in traces. */
export interface PolicyRef {
  readonly kind: PolicyKind
  readonly namespace: string | undefined
  readonly name: string
  readonly tier: string
}

/** A policy of any kind in Calico's v3 form. */
export interface NormalizedPolicy {
  readonly ref: PolicyRef
  /** The name Calico's dataplane knows it by (`knp.default.<name>` for Kubernetes policies). */
  readonly calicoName: string
  /** The enforced kind this policy is (or would become when promoted). */
  readonly enforcedKind: 'CalicoNetworkPolicy' | 'GlobalNetworkPolicy' | 'NetworkPolicy'
  readonly staged: boolean
  readonly stagedAction: StagedAction
  readonly order: number | undefined
  /** Endpoint selector (Calico syntax; "" = all()). */
  readonly selector: string
  readonly namespaceSelector: string | undefined
  readonly serviceAccountSelector: string | undefined
  readonly types: readonly PolicyType[]
  readonly ingress: readonly Rule[]
  readonly egress: readonly Rule[]
  readonly origin: ResourceOrigin | undefined
}

/** Tier and order Calico gives converted Kubernetes NetworkPolicies. */
export const KNP_TIER = 'default'
export const KNP_ORDER = 1000

/** Identity used by replace mode and incremental updates: enforced kind, namespace, name. */
export function policyIdentity (p: NormalizedPolicy): string {
  return `${p.enforcedKind}/${p.ref.namespace ?? ''}/${p.ref.name}`
}

/** v3 types defaulting: Ingress when there are no egress rules, Egress when only egress rules, else both. */
function defaultV3Types (ingress: readonly Rule[] | undefined, egress: readonly Rule[] | undefined): PolicyType[] {
  const hasIngress = (ingress?.length ?? 0) > 0
  const hasEgress = (egress?.length ?? 0) > 0
  if (hasEgress && !hasIngress) return ['Egress']
  if (hasEgress && hasIngress) return ['Ingress', 'Egress']
  return ['Ingress']
}

/** Kubernetes policyTypes defaulting: Ingress always, Egress when egress rules exist. */
function defaultK8sTypes (spec: K8sNetworkPolicySpec): PolicyType[] {
  return (spec.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress']
}

function k8sPeerToEntity (peer: K8sNetworkPolicyPeer | undefined): EntityRule {
  if (peer === undefined) return {}
  if (peer.ipBlock !== undefined) {
    return { nets: [peer.ipBlock.cidr], ...(peer.ipBlock.except !== undefined && peer.ipBlock.except.length > 0 ? { notNets: [...peer.ipBlock.except] } : {}) }
  }
  const entity: EntityRule = {}
  const podSelector = k8sLabelSelectorToCalico(peer.podSelector)
  entity.selector = podSelector === '' ? `${LABEL_ORCHESTRATOR} == 'k8s'` : `${LABEL_ORCHESTRATOR} == 'k8s' && ${podSelector}`
  if (peer.namespaceSelector !== undefined) {
    const ns = k8sLabelSelectorToCalico(peer.namespaceSelector)
    // An empty namespaceSelector selects every namespace (Calico writes all()).
    entity.namespaceSelector = ns === '' ? 'all()' : ns
  }
  return entity
}

interface ProtocolPorts { protocol: string | undefined, ports: Port[] | undefined }

/** Groups a rule's ports by protocol as the Calico converter does (one v3 rule per peer × protocol). */
function groupPorts (ports: readonly K8sNetworkPolicyPort[] | undefined): ProtocolPorts[] {
  if (ports === undefined || ports.length === 0) return [{ protocol: undefined, ports: undefined }]
  const byProtocol = new Map<string, Port[] | undefined>()
  for (const p of ports) {
    const protocol = p.protocol ?? 'TCP'
    const existing = byProtocol.has(protocol) ? byProtocol.get(protocol) : []
    if (p.port === undefined || existing === undefined) { byProtocol.set(protocol, undefined); continue }
    const port: Port = typeof p.port === 'number' && p.endPort !== undefined ? `${p.port}:${p.endPort}` : p.port
    byProtocol.set(protocol, [...existing, port])
  }
  return [...byProtocol.keys()].sort().map(protocol => ({ protocol, ports: byProtocol.get(protocol) }))
}

function k8sRules (peers: readonly K8sNetworkPolicyPeer[] | undefined, ports: readonly K8sNetworkPolicyPort[] | undefined, ingress: boolean): Rule[] {
  const peerList: Array<K8sNetworkPolicyPeer | undefined> = peers === undefined || peers.length === 0 ? [undefined] : [...peers]
  const rules: Rule[] = []
  // Protocol-major, then peer, as k8sRuleToCalico does: rule indexes in traces depend on this order.
  for (const { protocol, ports: portList } of groupPorts(ports)) {
    for (const peer of peerList) {
      const rule: Rule = { action: 'Allow' }
      if (protocol !== undefined) rule.protocol = protocol
      const remote = k8sPeerToEntity(peer)
      const local: EntityRule = portList === undefined ? {} : { ports: portList }
      if (ingress) { rule.source = remote; rule.destination = local } else { rule.source = {}; rule.destination = { ...remote, ...local } }
      rules.push(rule)
    }
  }
  return rules
}

/** Converts a Kubernetes NetworkPolicy spec to Calico's v3 form. */
export function convertK8sSpec (spec: K8sNetworkPolicySpec): { selector: string, types: PolicyType[], ingress: Rule[], egress: Rule[] } {
  const types = spec.policyTypes !== undefined && spec.policyTypes.length > 0 ? [...spec.policyTypes] : defaultK8sTypes(spec)
  const podSelector = k8sLabelSelectorToCalico(spec.podSelector)
  return {
    selector: podSelector === '' ? `${LABEL_ORCHESTRATOR} == 'k8s'` : `${LABEL_ORCHESTRATOR} == 'k8s' && ${podSelector}`,
    types,
    // Rules of a direction not in policyTypes are dropped, as the converter does.
    ingress: types.includes('Ingress') ? (spec.ingress ?? []).flatMap(r => k8sRules(r.from, r.ports, true)) : [],
    egress: types.includes('Egress') ? (spec.egress ?? []).flatMap(r => k8sRules(r.to, r.ports, false)) : []
  }
}

function fromK8s (resource: K8sNetworkPolicy | Extract<CalicoPolicyResource, { kind: 'StagedKubernetesNetworkPolicy' }>, origin: ResourceOrigin | undefined): NormalizedPolicy {
  const staged = resource.kind === 'StagedKubernetesNetworkPolicy'
  const converted = convertK8sSpec(resource.spec)
  return {
    ref: { kind: staged ? 'StagedKubernetesNetworkPolicy' : 'NetworkPolicy', namespace: resource.metadata.namespace ?? 'default', name: resource.metadata.name, tier: KNP_TIER },
    calicoName: `knp.default.${resource.metadata.name}`,
    enforcedKind: 'NetworkPolicy',
    staged,
    stagedAction: staged ? (resource.spec.stagedAction ?? 'Set') : 'Set',
    order: KNP_ORDER,
    selector: converted.selector,
    namespaceSelector: undefined,
    serviceAccountSelector: undefined,
    types: converted.types,
    ingress: converted.ingress,
    egress: converted.egress,
    origin
  }
}

const CALICO_KINDS = {
  NetworkPolicy: { kind: 'CalicoNetworkPolicy', enforced: 'CalicoNetworkPolicy', staged: false },
  GlobalNetworkPolicy: { kind: 'GlobalNetworkPolicy', enforced: 'GlobalNetworkPolicy', staged: false },
  StagedNetworkPolicy: { kind: 'StagedNetworkPolicy', enforced: 'CalicoNetworkPolicy', staged: true },
  StagedGlobalNetworkPolicy: { kind: 'StagedGlobalNetworkPolicy', enforced: 'GlobalNetworkPolicy', staged: true }
} as const

/** Normalizes one policy resource; undefined for resources that are not policies. */
export function normalizePolicy (resource: Resource, origin?: ResourceOrigin): NormalizedPolicy | undefined {
  if (resource.kind === 'NetworkPolicy' && resource.apiVersion === 'networking.k8s.io/v1') return fromK8s(resource, origin)
  if (resource.kind === 'StagedKubernetesNetworkPolicy') return fromK8s(resource, origin)
  if (resource.apiVersion !== 'projectcalico.org/v3') return undefined
  if (resource.kind !== 'NetworkPolicy' && resource.kind !== 'GlobalNetworkPolicy' && resource.kind !== 'StagedNetworkPolicy' && resource.kind !== 'StagedGlobalNetworkPolicy') return undefined
  const info = CALICO_KINDS[resource.kind]
  const spec = resource.spec
  const namespaced = resource.kind === 'NetworkPolicy' || resource.kind === 'StagedNetworkPolicy'
  const globalSpec = spec as { namespaceSelector?: string }
  return {
    ref: { kind: info.kind, namespace: namespaced ? resource.metadata.namespace ?? 'default' : undefined, name: resource.metadata.name, tier: spec.tier ?? 'default' },
    calicoName: resource.metadata.name,
    enforcedKind: info.enforced,
    staged: info.staged,
    stagedAction: 'stagedAction' in spec && spec.stagedAction !== undefined ? spec.stagedAction : 'Set',
    order: spec.order,
    selector: spec.selector ?? '',
    namespaceSelector: namespaced ? undefined : globalSpec.namespaceSelector,
    serviceAccountSelector: spec.serviceAccountSelector,
    types: spec.types !== undefined && spec.types.length > 0 ? [...spec.types] : defaultV3Types(spec.ingress, spec.egress),
    ingress: spec.ingress ?? [],
    egress: spec.egress ?? [],
    origin
  }
}

/** Normalizes every policy among loaded resources, in input order. */
export function normalizePolicies (loaded: readonly LoadedResource[]): NormalizedPolicy[] {
  const out: NormalizedPolicy[] = []
  for (const { resource, origin } of loaded) {
    const p = normalizePolicy(resource, origin)
    if (p !== undefined) out.push(p)
  }
  return out
}
