// The impact of the staged policies over a time range: every flow whose pending action differs from its
// enforced one, grouped by the policy responsible, with totals and the newly-allowed / newly-denied split.
//
// Attribution, per flow (documented in the README's impact section and proto/shadowflow/v1/impact.proto):
//  1. the first hit of the pending trace that belongs to a staged policy — a rule of a Staged* kind, or an
//     end-of-tier hit whose trigger is a staged policy (a staged default-deny has no rule that matches);
//  2. otherwise (replace mode: a staged Delete removed an enforced policy) the first enforced hit whose policy
//     no longer appears anywhere in the pending trace;
//  3. otherwise the flow is counted in a group without a policy ("unattributed").
import type { FlowKey, FlowLog } from '../flows/flow-log.js'
import { pendingAction, type FlowFilter } from '../flows/flow-filter.js'
import type { PolicyHit, PolicyTrigger } from '../policy/policy-hit.js'
import type { FlowStore, TimeRangeQuery } from './flow-store.js'

/** Counters over a set of flows; newlyAllowed + newlyDenied = the changed flows among them. */
export interface ImpactTotals {
  flows: number
  connections: number
  bytes: number
  packets: number
  newlyAllowed: number
  newlyDenied: number
}

/** The policy a group of changed flows is attributed to. */
export interface ImpactPolicy extends PolicyTrigger {
  /** `staged`: a staged policy's hit; `removed`: an enforced policy missing from the pending trace. */
  readonly attribution: 'staged' | 'removed'
}

/** The changed flows attributed to one policy (or to none). */
export interface ImpactGroup {
  readonly policy: ImpactPolicy | undefined
  readonly totals: ImpactTotals
  /** The largest changed flows (by bytes), at most maxExamples. */
  readonly examples: readonly FlowLog[]
}

/** The whole report. */
export interface ImpactReport {
  /** The resolved range in Unix seconds (the stored data's span where the query was unbounded). */
  readonly startTimeGte: number
  readonly startTimeLt: number
  readonly considered: ImpactTotals
  readonly changed: ImpactTotals
  /** Largest first (changed flows, then bytes). */
  readonly groups: readonly ImpactGroup[]
}

/** computeImpact's query. */
export interface ImpactQuery extends TimeRangeQuery {
  filter?: FlowFilter
  /** Examples per group (default 5). */
  maxExamples?: number
}

const STAGED_KINDS: ReadonlySet<string> = new Set(['StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy'])

function emptyTotals (): ImpactTotals {
  return { flows: 0, connections: 0, bytes: 0, packets: 0, newlyAllowed: 0, newlyDenied: 0 }
}

function policyOfHit (hit: PolicyHit): PolicyTrigger | undefined {
  if (hit.kind === 'EndOfTier') return hit.trigger
  if (hit.kind === 'Profile') return undefined
  return { kind: hit.kind, namespace: hit.namespace, name: hit.name, tier: hit.tier }
}

function identity (p: PolicyTrigger): string {
  return `${p.kind}\u0001${p.namespace}\u0001${p.tier}\u0001${p.name}`
}

/** The policy responsible for a changed flow (see the file comment), or undefined. */
export function responsiblePolicy (key: FlowKey): ImpactPolicy | undefined {
  for (const hit of key.policies.pending) {
    const policy = policyOfHit(hit)
    if (policy !== undefined && STAGED_KINDS.has(policy.kind)) return { ...policy, attribution: 'staged' }
  }
  const pending = new Set<string>()
  for (const hit of key.policies.pending) {
    const policy = policyOfHit(hit)
    if (policy !== undefined) pending.add(identity(policy))
  }
  for (const hit of key.policies.enforced) {
    const policy = policyOfHit(hit)
    if (policy !== undefined && !pending.has(identity(policy))) return { ...policy, attribution: 'removed' }
  }
  return undefined
}

function add (totals: ImpactTotals, flow: FlowLog, newly: 'Allow' | 'Deny' | undefined): void {
  totals.flows++
  totals.connections += flow.connectionsStarted
  totals.bytes += flow.bytesIn + flow.bytesOut
  totals.packets += flow.packetsIn + flow.packetsOut
  if (newly === 'Allow') totals.newlyAllowed++
  if (newly === 'Deny') totals.newlyDenied++
}

/** Computes the impact report over the store's flows (one flow per key over the range, as List does). */
export function computeImpact (store: FlowStore, query: ImpactQuery = {}): ImpactReport {
  const maxExamples = query.maxExamples ?? 5
  const { items } = store.list({ ...query, aggregationIntervalSeconds: 0 })
  const considered = emptyTotals()
  const changed = emptyTotals()
  const groups = new Map<string, { policy: ImpactPolicy | undefined, totals: ImpactTotals, flows: FlowLog[] }>()
  for (const { flow } of items) {
    const pending = pendingAction(flow.key)
    const newly = pending === flow.key.action ? undefined : pending
    add(considered, flow, newly)
    if (newly === undefined) continue
    add(changed, flow, newly)
    const policy = responsiblePolicy(flow.key)
    const id = policy === undefined ? '' : `${policy.attribution}\u0001${identity(policy)}`
    let group = groups.get(id)
    if (group === undefined) { group = { policy, totals: emptyTotals(), flows: [] }; groups.set(id, group) }
    add(group.totals, flow, newly)
    group.flows.push(flow)
  }
  const bytesOf = (f: FlowLog): number => f.bytesIn + f.bytesOut
  const result: ImpactGroup[] = [...groups.values()].map(g => ({
    policy: g.policy,
    totals: g.totals,
    examples: g.flows.sort((a, b) => bytesOf(b) - bytesOf(a) || b.connectionsStarted - a.connectionsStarted).slice(0, maxExamples)
  }))
  result.sort((a, b) => b.totals.flows - a.totals.flows || b.totals.bytes - a.totals.bytes ||
    (a.policy?.name ?? '').localeCompare(b.policy?.name ?? ''))
  const range = store.range(query)
  const span = store.bucketSpan()
  const now = Math.floor(store.nowSeconds())
  return {
    startTimeGte: Number.isFinite(range.fromSeconds) ? range.fromSeconds : (span?.oldest ?? now - store.retentionSeconds),
    startTimeLt: Number.isFinite(range.toSeconds) ? range.toSeconds : now,
    considered,
    changed,
    groups: result
  }
}
