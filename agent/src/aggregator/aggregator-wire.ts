// Domain → wire for the aggregator's own results (statistics rows, impact reports, node infos). Flows and
// policy hits go through the gRPC layer's goldmane-mapping.ts; this adds only what it does not cover.
import { flowLogToWire, policyHitToWire } from '../grpc/goldmane-mapping.js'
import type { WireImpactReport, WireImpactTotals, WireNodeInfo, WirePolicyHit, WireStatisticsResult } from '../grpc/wire-types.js'
import type { ImpactPolicy, ImpactReport, ImpactTotals } from './impact-report.js'
import type { NodeInfo } from './node-registry.js'
import type { StatisticsPolicy, StatisticsRow } from './policy-statistics.js'

// A policy without a decision (a statistics row per policy, an impact group) has no action or indices: they
// stay at their wire defaults, as Goldmane leaves them.
function policyToWire (policy: StatisticsPolicy | ImpactPolicy): WirePolicyHit {
  const withRule = 'action' in policy && policy.action !== undefined ? policy : undefined
  const base = policyHitToWire({
    kind: policy.kind,
    namespace: policy.namespace,
    name: policy.name,
    tier: policy.tier,
    action: withRule?.action ?? 'Allow',
    policyIndex: 0,
    ruleIndex: withRule?.ruleIndex ?? 0,
    ...('trigger' in policy && policy.trigger !== undefined ? { trigger: policy.trigger } : {})
  })
  return withRule === undefined ? { ...base, action: 'ActionUnspecified' } : base
}

/** A statistics row as goldmane.StatisticsResult. */
export function statisticsRowToWire (row: StatisticsRow): WireStatisticsResult {
  return {
    policy: policyToWire(row.policy),
    direction: row.direction,
    groupBy: row.groupBy,
    type: row.type,
    allowedIn: row.allowedIn,
    allowedOut: row.allowedOut,
    deniedIn: row.deniedIn,
    deniedOut: row.deniedOut,
    passedIn: row.passedIn,
    passedOut: row.passedOut,
    x: row.x
  }
}

function totalsToWire (t: ImpactTotals): WireImpactTotals {
  return { ...t }
}

/** An impact report as shadowflow.v1.ImpactReport. */
export function impactReportToWire (report: ImpactReport): WireImpactReport {
  return {
    startTimeGte: Math.floor(report.startTimeGte),
    startTimeLt: Math.ceil(report.startTimeLt),
    considered: totalsToWire(report.considered),
    changed: totalsToWire(report.changed),
    groups: report.groups.map(g => ({
      policy: g.policy === undefined ? null : policyToWire(g.policy),
      totals: totalsToWire(g.totals),
      examples: g.examples.map(flowLogToWire)
    }))
  }
}

/** A node's state as shadowflow.v1.NodeInfo (an unidentified node keeps its peer in the name). */
export function nodeInfoToWire (node: NodeInfo): WireNodeInfo {
  return {
    name: node.id,
    queryAddress: node.queryAddress,
    connected: node.connected,
    lastUpdateTime: node.lastUpdateTime,
    lagSeconds: Math.round(node.lagSeconds * 1000) / 1000,
    updatesReceived: node.updatesReceived,
    duplicatesDropped: node.duplicatesDropped,
    connectedSince: node.connectedSince
  }
}
