// Trace entries shaped like Goldmane's PolicyHit, so flow logs and the CLI speak the same language.
import type { PolicyKind, PolicyRef } from './normalized-policy.js'

/**
 * The policy kinds a trace names: those shadowflow evaluates, plus the ClusterNetworkPolicy (AdminNetworkPolicy)
 * tiers a Calico Felix reports. Those two are never produced here; the aggregator accepts them from the wire so
 * that a real Felix's flow logs are stored and queried like any other.
 */
export type TracedPolicyKind = PolicyKind | 'ClusterNetworkPolicyAdminTier' | 'ClusterNetworkPolicyBaselineTier'

/** The policy a hit belongs to, as Goldmane's PolicyHit names it (also the `trigger` of an end-of-tier hit). */
export interface PolicyTrigger {
  readonly kind: TracedPolicyKind
  readonly namespace: string
  readonly name: string
  readonly tier: string
}

/** One step of an evaluation that decided something: a rule match, an end-of-tier default or a profile. */
export interface PolicyHit {
  readonly kind: TracedPolicyKind | 'Profile' | 'EndOfTier'
  readonly namespace: string
  readonly name: string
  readonly tier: string
  readonly action: 'Allow' | 'Deny' | 'Pass'
  /** Position of this hit in its trace. */
  readonly policyIndex: number
  /** Index of the matching rule; -1 for an end-of-tier hit. */
  readonly ruleIndex: number
  /** For an end-of-tier hit: the first policy of the tier that applied. */
  readonly trigger?: PolicyTrigger
}

/** The result of evaluating one direction on one endpoint. */
export interface EndpointVerdict {
  readonly action: 'Allow' | 'Deny'
  readonly hits: readonly PolicyHit[]
}

/** One pipeline's verdict for a flow: allowed only when both ends allow. */
export interface PipelineVerdict {
  readonly action: 'Allow' | 'Deny'
  /** Egress evaluation on the source endpoint (empty when the source is not a cluster endpoint). */
  readonly src: readonly PolicyHit[]
  /** Ingress evaluation on the destination endpoint (empty when it is not a cluster endpoint). */
  readonly dst: readonly PolicyHit[]
}

/** Both pipelines' verdicts for one flow. */
export interface FlowVerdicts {
  readonly enforced: PipelineVerdict
  readonly pending: PipelineVerdict
  /** Rule fields that cannot be observed at L3/L4 and were treated as not matching (e.g. `http`). */
  readonly unobservable: readonly string[]
  /**
   * Which ends' verdicts deny, as ENFORCED_SRC_DENIES … PENDING_DST_DENIES bits (an end not evaluated allows):
   * the flow-log aggregator keys each end's report by it without reading the trace's deciding hit — an object
   * somewhere in the heap, a cache miss per report.
   */
  readonly endDenies: number
}

export const ENFORCED_SRC_DENIES = 1
export const ENFORCED_DST_DENIES = 2
export const PENDING_SRC_DENIES = 4
export const PENDING_DST_DENIES = 8

/** Goldmane's trigger form of a policy reference. */
export function triggerOf (ref: PolicyRef): PolicyTrigger {
  return { kind: ref.kind, namespace: ref.namespace ?? '', name: ref.name, tier: ref.tier }
}
