// Promotion of staged policies to the enforced policies they preview — what Calico's "Stage, preview impacts, and
// enforce policy" page means by "create an identical policy and apply it":
//   StagedNetworkPolicy           → projectcalico.org/v3 NetworkPolicy
//   StagedGlobalNetworkPolicy     → projectcalico.org/v3 GlobalNetworkPolicy
//   StagedKubernetesNetworkPolicy → networking.k8s.io/v1 NetworkPolicy
// with the same name, namespace, labels and annotations and the spec minus `stagedAction`. A staged policy with
// `stagedAction: Delete` asks for the enforced policy of that kind/namespace/name to be removed, which
// `kubectl apply` cannot express, so it becomes a `kubectl delete` command line instead of a document.
// Pure: no I/O. Inputs that are not staged policies are never promoted; `promoteAll` returns them as `skipped`
// so the caller can say so (nothing is dropped silently).
import { stringify } from 'yaml'
import type {
  CalicoGlobalNetworkPolicy, CalicoNetworkPolicy, K8sNetworkPolicy, ObjectMeta, Resource,
  StagedAction, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy, StagedNetworkPolicy
} from './resources.js'

/** A staged policy of any of the three staged kinds. */
export type StagedPolicy = StagedNetworkPolicy | StagedGlobalNetworkPolicy | StagedKubernetesNetworkPolicy

/** The enforced policy a staged policy stands for. */
export type EnforcedPolicy = CalicoNetworkPolicy | CalicoGlobalNetworkPolicy | K8sNetworkPolicy

/** The enforced policy a `stagedAction: Delete` staged policy removes, and the command that removes it. */
export interface DeleteTarget {
  apiVersion: EnforcedPolicy['apiVersion']
  kind: EnforcedPolicy['kind']
  /** Fully qualified resource name kubectl resolves unambiguously, e.g. `networkpolicies.projectcalico.org`. */
  resourceName: string
  name: string
  namespace?: string
  /** `kubectl delete <resourceName> <name> [-n <namespace>]`, shell-quoted where needed. */
  command: string
}

/** What promoting one staged policy means: apply an enforced resource, or delete one. */
export type Promotion =
  | { action: 'apply', staged: StagedPolicy, resource: EnforcedPolicy }
  | { action: 'delete', staged: StagedPolicy, target: DeleteTarget }

/** Result of `promoteAll`: promotions in input order, and every input that is not a staged policy. */
export interface PromotionResult<T> {
  promotions: Array<Promotion & { source: T }>
  skipped: T[]
}

const STAGED_KINDS: ReadonlySet<string> = new Set(['StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy'])

// The resource names kubectl needs when Calico's API server is installed: plain `networkpolicy` is ambiguous
// between networking.k8s.io and projectcalico.org (kubectl picks the core one), so always qualify with the group.
// Calico's reference pages list `networkpolicies.projectcalico.org` and `globalnetworkpolicies.projectcalico.org`
// as the kubectl aliases of these kinds.
const ENFORCED_TARGET = {
  StagedNetworkPolicy: { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', resourceName: 'networkpolicies.projectcalico.org' },
  StagedGlobalNetworkPolicy: { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', resourceName: 'globalnetworkpolicies.projectcalico.org' },
  StagedKubernetesNetworkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', resourceName: 'networkpolicies.networking.k8s.io' }
} as const

/** The annotation `kubectl apply` writes; it describes the staged object and must not be copied. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration'

/** True for StagedNetworkPolicy, StagedGlobalNetworkPolicy and StagedKubernetesNetworkPolicy. */
export function isStagedPolicy (resource: Resource): resource is StagedPolicy {
  return STAGED_KINDS.has(resource.kind)
}

/**
 * Metadata of the promoted policy: name, namespace, labels and annotations only. Everything else in a staged
 * object's metadata is server-populated (uid, resourceVersion, creationTimestamp, generation, managedFields,
 * selfLink) or belongs to the staged object (ownerReferences, finalizers) and would make `apply` fail or lie.
 */
function promotedMetadata (metadata: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = { name: metadata.name }
  if (metadata.namespace !== undefined) out.namespace = metadata.namespace
  if (metadata.labels !== undefined && Object.keys(metadata.labels).length > 0) out.labels = { ...metadata.labels }
  if (metadata.annotations !== undefined) {
    const annotations = Object.fromEntries(Object.entries(metadata.annotations).filter(([k]) => k !== LAST_APPLIED_ANNOTATION))
    if (Object.keys(annotations).length > 0) out.annotations = annotations
  }
  return out
}

/** Single-quotes a shell word unless it is made only of characters no shell treats specially. */
function shellWord (word: string): string {
  return /^[A-Za-z0-9._:/=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}

/** The `kubectl delete` command that removes the enforced counterpart of `staged`. */
export function deleteTargetFor (staged: StagedPolicy): DeleteTarget {
  const target = ENFORCED_TARGET[staged.kind]
  const { name, namespace } = staged.metadata
  // StagedGlobalNetworkPolicy is cluster-scoped: a stray namespace on it means nothing, so never pass -n.
  const scoped = staged.kind !== 'StagedGlobalNetworkPolicy' && namespace !== undefined
  const command = ['kubectl', 'delete', target.resourceName, shellWord(name), ...(scoped ? ['-n', shellWord(namespace)] : [])].join(' ')
  return { ...target, name, ...(scoped ? { namespace } : {}), command }
}

/** Promotes one staged policy: the enforced resource to apply, or (stagedAction: Delete) what to delete. */
export function promoteStagedPolicy (staged: StagedPolicy): Promotion {
  if (!isStagedPolicy(staged)) {
    // Unreachable from typed callers; guards plain-JS callers and casts.
    throw new TypeError(`${(staged as Resource).kind} is not a staged policy`)
  }
  if (staged.spec.stagedAction === 'Delete') return { action: 'delete', staged, target: deleteTargetFor(staged) }
  const metadata = promotedMetadata(staged.metadata)
  switch (staged.kind) {
    case 'StagedNetworkPolicy':
      return { action: 'apply', staged, resource: { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata, spec: enforcedSpec(staged.spec) } }
    case 'StagedGlobalNetworkPolicy':
      // Cluster-scoped: a namespace on the staged object would be rejected by the API server.
      delete metadata.namespace
      return { action: 'apply', staged, resource: { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata, spec: enforcedSpec(staged.spec) } }
    case 'StagedKubernetesNetworkPolicy':
      return { action: 'apply', staged, resource: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec: enforcedSpec(staged.spec) } }
  }
}

/** A deep copy of a staged spec without `stagedAction` (the promoted policy must not share arrays with the input). */
function enforcedSpec<S extends { stagedAction?: StagedAction }> (spec: S): Omit<S, 'stagedAction'> {
  const { stagedAction: _stagedAction, ...rest } = structuredClone(spec)
  return rest
}

/**
 * Promotes every staged policy among `items` (in input order); every other resource is returned in `skipped`.
 * `resourceOf` extracts the resource, so callers can pass `LoadedResource`s and keep their origins.
 */
export function promoteAll<T> (items: readonly T[], resourceOf: (item: T) => Resource): PromotionResult<T> {
  const result: PromotionResult<T> = { promotions: [], skipped: [] }
  for (const item of items) {
    const resource = resourceOf(item)
    if (isStagedPolicy(resource)) result.promotions.push({ ...promoteStagedPolicy(resource), source: item })
    else result.skipped.push(item)
  }
  return result
}

/** The promoted resource with keys in the order kubectl prints them: apiVersion, kind, metadata, spec. */
function ordered (resource: EnforcedPolicy): Record<string, unknown> {
  const { name, namespace, labels, annotations } = resource.metadata
  const metadata: Record<string, unknown> = { name }
  if (namespace !== undefined) metadata.namespace = namespace
  if (labels !== undefined) metadata.labels = labels
  if (annotations !== undefined) metadata.annotations = annotations
  return { apiVersion: resource.apiVersion, kind: resource.kind, metadata, spec: resource.spec }
}

function appliedResources (promotions: readonly Promotion[]): EnforcedPolicy[] {
  return promotions.flatMap(p => p.action === 'apply' ? [p.resource] : [])
}

/**
 * The resources to apply as one multi-document YAML stream that `kubectl apply -f -` takes ("" when there are
 * none). Written with the YAML 1.1 schema, so strings such as `yes`/`on` stay quoted for kubectl's YAML 1.1
 * parser, and never folded, so long selectors stay on one line.
 */
export function renderPromotedYaml (promotions: readonly Promotion[]): string {
  return appliedResources(promotions)
    .map(r => stringify(ordered(r), { version: '1.1', lineWidth: 0 }))
    .map((doc, i) => i === 0 ? doc : `---\n${doc}`)
    .join('')
}

/** The resources to apply as one `v1` `List` in JSON, which `kubectl apply -f -` also takes. */
export function renderPromotedJson (promotions: readonly Promotion[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: appliedResources(promotions).map(ordered) }, null, 2) + '\n'
}

/** The `kubectl delete` command lines of the Delete-staged policies, in input order. */
export function renderDeleteCommands (promotions: readonly Promotion[]): string[] {
  return promotions.flatMap(p => p.action === 'delete' ? [p.target.command] : [])
}
