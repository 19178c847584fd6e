// Tier ordering as Felix sorts tiers (felix/calc/policy_sorter.go): tiers that exist before tiers that are only
// referenced, then ascending order (no order = last), then name. The `default` tier always exists.
import type { Tier } from './resources.js'

/** A tier as the pipelines use it. */
export interface TierInfo {
  readonly name: string
  readonly order: number | undefined
  /** Action at the end of the tier when a policy applied but no rule decided. */
  readonly defaultAction: 'Deny' | 'Pass'
  /** False for a tier a policy names but no Tier resource defines (Felix sorts those last). */
  readonly valid: boolean
}

/** Calico's built-in tiers: `default` always; the admin-network-policy tiers pass by default. */
export const BUILTIN_TIERS: readonly TierInfo[] = Object.freeze([
  { name: 'kube-admin', order: 1000, defaultAction: 'Pass', valid: true },
  { name: 'default', order: 1_000_000, defaultAction: 'Deny', valid: true },
  { name: 'kube-baseline', order: 10_000_000, defaultAction: 'Pass', valid: true }
])

/** Compares two tiers in evaluation order. */
export function compareTiers (a: TierInfo, b: TierInfo): number {
  if (a.valid !== b.valid) return a.valid ? -1 : 1
  const ao = a.order ?? Infinity
  const bo = b.order ?? Infinity
  if (ao !== bo) return ao < bo ? -1 : 1
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

/** All tiers in evaluation order: built-ins (overridable by a Tier resource), Tier resources, referenced names. */
export function buildTiers (resources: readonly Tier[], referenced: Iterable<string>): TierInfo[] {
  const byName = new Map<string, TierInfo>(BUILTIN_TIERS.map(t => [t.name, t]))
  for (const t of resources) {
    const builtin = byName.get(t.metadata.name)
    byName.set(t.metadata.name, {
      name: t.metadata.name,
      // The default tier's order is fixed by Calico; a Tier resource for it only sets the default action.
      order: t.metadata.name === 'default' ? builtin?.order : t.spec.order,
      defaultAction: t.spec.defaultAction ?? builtin?.defaultAction ?? 'Deny',
      valid: true
    })
  }
  for (const name of referenced) {
    if (!byName.has(name)) byName.set(name, { name, order: undefined, defaultAction: 'Deny', valid: false })
  }
  return [...byName.values()].sort(compareTiers)
}
