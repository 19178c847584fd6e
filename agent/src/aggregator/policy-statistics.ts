// Goldmane's Statistics over the store: per policy (or per policy rule) counters split by the hit's action
// (allowed / denied / passed) and direction (in = ingress, evaluated at the destination: reporter Dst; out =
// egress at the source: reporter Src), optionally as a 15 s time series.
//
// Which hits count: every hit of the enforced trace, plus the hits of staged policies in the pending trace
// (their other pending hits repeat enforced ones), so a staged policy has statistics before it is enforced.
import { FLOW_INTERVAL_SECONDS, type FlowKey } from '../flows/flow-log.js'
import { matchesPolicyHit, type PolicyMatch } from '../flows/flow-filter.js'
import type { PolicyHit } from '../policy/policy-hit.js'
import type { FlowStore, TimeRangeQuery } from './flow-store.js'

/** Goldmane's StatisticType. */
export type StatisticType = 'PacketCount' | 'ByteCount' | 'LiveConnectionCount'
/** Goldmane's StatisticsGroupBy. */
export type StatisticsGroupBy = 'Policy' | 'PolicyRule'
/** Goldmane's RuleDirection. */
export type RuleDirection = 'Any' | 'Ingress' | 'Egress'

/** computeStatistics' query: Goldmane's StatisticsRequest in domain form. */
export interface StatisticsQuery extends TimeRangeQuery {
  type: StatisticType
  groupBy: StatisticsGroupBy
  policyMatch?: PolicyMatch
  timeSeries: boolean
}

/** The policy (Policy grouping) or rule (PolicyRule grouping) a row counts. */
export interface StatisticsPolicy {
  readonly kind: PolicyHit['kind']
  readonly namespace: string
  readonly name: string
  readonly tier: string
  /** PolicyRule grouping only: the rule's action and index (-1 for an end-of-tier hit). */
  readonly action?: PolicyHit['action']
  readonly ruleIndex?: number
  readonly trigger?: PolicyHit['trigger']
}

/** One row: Goldmane's StatisticsResult. Arrays hold one value, or one per `x` with timeSeries. */
export interface StatisticsRow {
  readonly policy: StatisticsPolicy
  readonly direction: RuleDirection
  readonly groupBy: StatisticsGroupBy
  readonly type: StatisticType
  readonly allowedIn: number[]
  readonly allowedOut: number[]
  readonly deniedIn: number[]
  readonly deniedOut: number[]
  readonly passedIn: number[]
  readonly passedOut: number[]
  /** Bucket start times (Unix seconds) of the series; the range start without timeSeries. */
  readonly x: number[]
}

const STAGED_KINDS: ReadonlySet<string> = new Set(['StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy'])
type Series = 'allowedIn' | 'allowedOut' | 'deniedIn' | 'deniedOut' | 'passedIn' | 'passedOut'

function isStagedHit (hit: PolicyHit): boolean {
  return STAGED_KINDS.has(hit.kind) || (hit.kind === 'EndOfTier' && hit.trigger !== undefined && STAGED_KINDS.has(hit.trigger.kind))
}

function countedHits (key: FlowKey): PolicyHit[] {
  return [...key.policies.enforced, ...key.policies.pending.filter(isStagedHit)]
}

function rowIdentity (hit: PolicyHit, groupBy: StatisticsGroupBy, direction: RuleDirection): string {
  const t = hit.trigger
  const base = `${hit.kind}\u0001${hit.namespace}\u0001${hit.tier}\u0001${hit.name}\u0001${t === undefined ? '' : `${t.kind}/${t.namespace}/${t.tier}/${t.name}`}`
  return groupBy === 'Policy' ? base : `${base}\u0001${hit.action}\u0001${hit.ruleIndex}\u0001${direction}`
}

/** Computes the statistics rows, sorted by tier, namespace, name, kind, then rule. */
export function computeStatistics (store: FlowStore, query: StatisticsQuery): StatisticsRow[] {
  const range = store.range(query)
  // Per row: a sparse series keyed by bucket start; reduced to one value unless a time series was asked.
  const rows = new Map<string, { policy: StatisticsPolicy, direction: RuleDirection, values: Map<number, Record<Series, number>> }>()
  let firstBucket = Infinity
  let lastBucket = -Infinity
  store.forEachInRange(range, undefined, (bucketStart, { key }, flow) => {
    const value = query.type === 'PacketCount'
      ? flow.packetsIn + flow.packetsOut
      : query.type === 'ByteCount' ? flow.bytesIn + flow.bytesOut : flow.connectionsLive
    const inbound = key.reporter === 'Dst'
    const seen = new Set<string>()
    for (const hit of countedHits(key)) {
      if (query.policyMatch !== undefined && !matchesPolicyHit(query.policyMatch, hit)) continue
      const direction: RuleDirection = query.groupBy === 'Policy' ? 'Any' : inbound ? 'Ingress' : 'Egress'
      const id = rowIdentity(hit, query.groupBy, direction)
      // A policy with two hits in one trace (e.g. Pass then a later tier) counts the flow once per action.
      const once = `${id}\u0001${hit.action}`
      if (seen.has(once)) continue
      seen.add(once)
      let row = rows.get(id)
      if (row === undefined) {
        const policy: StatisticsPolicy = query.groupBy === 'Policy'
          ? { kind: hit.kind, namespace: hit.namespace, name: hit.name, tier: hit.tier, ...(hit.trigger === undefined ? {} : { trigger: hit.trigger }) }
          : { kind: hit.kind, namespace: hit.namespace, name: hit.name, tier: hit.tier, action: hit.action, ruleIndex: hit.ruleIndex, ...(hit.trigger === undefined ? {} : { trigger: hit.trigger }) }
        row = { policy, direction, values: new Map() }
        rows.set(id, row)
      }
      let cell = row.values.get(bucketStart)
      if (cell === undefined) {
        cell = { allowedIn: 0, allowedOut: 0, deniedIn: 0, deniedOut: 0, passedIn: 0, passedOut: 0 }
        row.values.set(bucketStart, cell)
      }
      const series: Series = `${hit.action === 'Allow' ? 'allowed' : hit.action === 'Deny' ? 'denied' : 'passed'}${inbound ? 'In' : 'Out'}`
      cell[series] += value
      firstBucket = Math.min(firstBucket, bucketStart)
      lastBucket = Math.max(lastBucket, bucketStart)
    }
  })
  const xs: number[] = []
  if (query.timeSeries && Number.isFinite(firstBucket)) {
    for (let x = firstBucket; x <= lastBucket; x += FLOW_INTERVAL_SECONDS) xs.push(x)
  }
  const rangeStart = Number.isFinite(range.fromSeconds) ? range.fromSeconds : (Number.isFinite(firstBucket) ? firstBucket : 0)
  const names: Series[] = ['allowedIn', 'allowedOut', 'deniedIn', 'deniedOut', 'passedIn', 'passedOut']
  const result: StatisticsRow[] = []
  for (const row of rows.values()) {
    const out: Record<Series, number[]> = { allowedIn: [], allowedOut: [], deniedIn: [], deniedOut: [], passedIn: [], passedOut: [] }
    if (query.timeSeries) {
      for (const x of xs) for (const name of names) out[name].push(row.values.get(x)?.[name] ?? 0)
    } else {
      // Live connections are a level, not a flow: the latest bucket's value; packets and bytes add up.
      const latest = Math.max(...row.values.keys())
      for (const name of names) {
        let total = 0
        if (query.type === 'LiveConnectionCount') total = row.values.get(latest)?.[name] ?? 0
        else for (const cell of row.values.values()) total += cell[name]
        out[name].push(total)
      }
    }
    result.push({ policy: row.policy, direction: row.direction, groupBy: query.groupBy, type: query.type, ...out, x: query.timeSeries ? [...xs] : [rangeStart] })
  }
  const ruleOf = (r: StatisticsRow): number => r.policy.ruleIndex ?? 0
  result.sort((a, b) => a.policy.tier.localeCompare(b.policy.tier) || a.policy.namespace.localeCompare(b.policy.namespace) ||
    a.policy.name.localeCompare(b.policy.name) || a.policy.kind.localeCompare(b.policy.kind) || ruleOf(a) - ruleOf(b) ||
    a.direction.localeCompare(b.direction) || (a.policy.action ?? '').localeCompare(b.policy.action ?? ''))
  return result
}
