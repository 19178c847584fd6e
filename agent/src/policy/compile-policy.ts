// A NormalizedPolicy compiled for evaluation: its applicability test (selector, namespace,
// namespaceSelector, serviceAccountSelector, types) and its rules per direction.
import type { PolicyEndpoint } from './endpoint-model.js'
import type { NormalizedPolicy } from './normalized-policy.js'
import { compileRule, namespaceLabelsOf, serviceAccountLabelsOf, type CompiledRule, type RuleCompileContext } from './compile-rule.js'

/** A policy ready to evaluate. */
export interface CompiledPolicy {
  readonly policy: NormalizedPolicy
  readonly appliesToIngress: boolean
  readonly appliesToEgress: boolean
  readonly ingress: readonly CompiledRule[]
  readonly egress: readonly CompiledRule[]
  /** Whether the policy selects an endpoint (direction aside). */
  readonly selects: (endpoint: PolicyEndpoint) => boolean
}

/** Compiles a policy; throws SelectorSyntaxError if one of its selectors does not parse (validation prevents it). */
export function compilePolicy (policy: NormalizedPolicy, ctx: RuleCompileContext): CompiledPolicy {
  const namespace = policy.ref.namespace
  const selector = ctx.matchers.get(policy.selector)
  const namespaceSelector = policy.namespaceSelector === undefined ? undefined : ctx.matchers.get(policy.namespaceSelector)
  const saSelector = policy.serviceAccountSelector === undefined ? undefined : ctx.matchers.get(policy.serviceAccountSelector)
  const namespaceLabels = namespaceLabelsOf(ctx)
  const serviceAccountLabels = serviceAccountLabelsOf(ctx)
  const selects = (ep: PolicyEndpoint): boolean => {
    // Namespaced policies apply only to pods of their namespace; global ones to pods and host endpoints.
    if (namespace !== undefined && (ep.kind !== 'workload' || ep.namespace !== namespace)) return false
    if (!selector.matchesEntity(ep)) return false
    if (namespaceSelector !== undefined) {
      if (ep.kind !== 'workload') return false
      if (!namespaceSelector.matchesEntityNamespace(ep, namespaceLabels)) return false
    }
    if (saSelector !== undefined) {
      if (ep.kind !== 'workload') return false
      if (!saSelector.matchesEntityServiceAccount(ep, serviceAccountLabels)) return false
    }
    return true
  }
  return {
    policy,
    appliesToIngress: policy.types.includes('Ingress'),
    appliesToEgress: policy.types.includes('Egress'),
    ingress: policy.ingress.map((r, i) => compileRule(r, i, namespace, ctx)),
    egress: policy.egress.map((r, i) => compileRule(r, i, namespace, ctx)),
    selects
  }
}

/** Policy order within a tier: order (none = last), then name, namespace, kind. */
export function comparePolicies (a: NormalizedPolicy, b: NormalizedPolicy): number {
  const ao = a.order ?? Infinity
  const bo = b.order ?? Infinity
  if (ao !== bo) return ao < bo ? -1 : 1
  for (const [x, y] of [[a.calicoName, b.calicoName], [a.ref.namespace ?? '', b.ref.namespace ?? ''], [a.ref.kind, b.ref.kind]] as const) {
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}
