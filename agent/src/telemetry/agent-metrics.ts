// The agent's Prometheus metrics (prom-client, one registry per agent so tests can run several). Pipeline
// counters live in the pure modules (aggregator, engine, tap, exporter) and are read at scrape time, so the hot
// path pays nothing for metrics; events that only the agent sees (reloads) are counted here directly.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { AggregatorStats } from '../flows/flow-log-aggregator.js'
import type { PolicyEngineStats } from '../policy/policy-engine.js'
import type { TapStats } from '../tap/tap-source.js'

/** Counters of the exporter, as metrics read them. */
export interface ExporterMetricStats {
  connected: boolean
  queueFlowLogs: number
  queueBytes: number
  unacknowledged: number
  sent: number
  resent: number
  acks: number
  reconnects: number
  dropped: { overflow: number, aged: number, stopped: number }
}

/** Where scrape-time values come from; each is optional (a replay has no exporter). */
export interface MetricSources {
  aggregator?: () => AggregatorStats
  engine?: () => PolicyEngineStats
  tap?: () => TapStats | undefined
  exporter?: () => ExporterMetricStats | undefined
}

/** Metric names, for the README and tests. */
export const METRIC_NAMES = Object.freeze([
  'shadowflow_agent_records_total', 'shadowflow_agent_evaluations_total', 'shadowflow_agent_verdict_cache_hits_total',
  'shadowflow_agent_verdict_cache_misses_total', 'shadowflow_agent_verdict_cache_hit_ratio', 'shadowflow_agent_drops_total',
  'shadowflow_agent_late_records_total', 'shadowflow_agent_flow_logs_total', 'shadowflow_agent_tracked_flows',
  'shadowflow_agent_open_flow_logs', 'shadowflow_agent_exporter_connected', 'shadowflow_agent_exporter_queue_flow_logs',
  'shadowflow_agent_exporter_queue_bytes', 'shadowflow_agent_exporter_unacknowledged_flow_logs', 'shadowflow_agent_exporter_sent_total',
  'shadowflow_agent_exporter_resent_total', 'shadowflow_agent_exporter_acks_total', 'shadowflow_agent_exporter_reconnects_total',
  'shadowflow_agent_exporter_dropped_total', 'shadowflow_agent_policy_reloads_total', 'shadowflow_agent_policy_generation',
  'shadowflow_agent_policies_loaded', 'shadowflow_agent_tap_packets_total', 'shadowflow_agent_tap_records_total',
  'shadowflow_agent_tap_flows_active', 'shadowflow_agent_tap_connections_started_total'
])

type Read = () => Array<[Record<string, string>, number]>

/** The agent's registry and the metrics it updates directly. */
export class AgentMetrics {
  readonly registry = new Registry()
  /** Accepted and rejected policy/inventory reloads. */
  readonly policyReloads: Counter<'result'>
  readonly policyGeneration: Gauge
  readonly policiesLoaded: Gauge<'staged'>
  private sources: MetricSources = {}

  constructor (options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry]
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
    this.policyReloads = new Counter({ name: 'shadowflow_agent_policy_reloads_total', help: 'Policy/inventory loads by result (ok, error: rejected, the last good set stays)', labelNames: ['result'], registers })
    this.policyReloads.inc({ result: 'ok' }, 0)
    this.policyReloads.inc({ result: 'error' }, 0)
    this.policyGeneration = new Gauge({ name: 'shadowflow_agent_policy_generation', help: 'Generation of the policy/inventory set in force (+1 per accepted reload)', registers })
    this.policiesLoaded = new Gauge({ name: 'shadowflow_agent_policies_loaded', help: 'Policies in force, by staged=true|false', labelNames: ['staged'], registers })

    const s = (): MetricSources => this.sources
    this.mirror('shadowflow_agent_records_total', 'Flow records received from the tap, by kind', ['kind'],
      () => Object.entries(s().aggregator?.().recordsByKind ?? {}).map(([kind, n]) => [{ kind }, n]))
    this.mirror('shadowflow_agent_evaluations_total', 'Flow evaluations in both pipelines (one per flow and policy generation)', [],
      () => [[{}, s().aggregator?.().evaluations ?? 0]])
    // The verdict cache of the agent is the aggregator's flow-shape cache (the engine's whole-flow cache is off
    // there): a hit is a new flow that took an earlier flow's verdicts, a miss one the engine evaluated.
    const shapeHits = (): number => s().aggregator?.().shapeCacheHits ?? 0
    const shapeMisses = (): number => (s().aggregator?.().evaluations ?? 0) - shapeHits()
    this.mirror('shadowflow_agent_verdict_cache_hits_total', 'New flows whose verdicts came from the flow-shape cache (same addresses, protocol and port as an earlier flow)', [], () => [[{}, shapeHits()]])
    this.mirror('shadowflow_agent_verdict_cache_misses_total', 'New flows the policy engine evaluated', [], () => [[{}, shapeMisses()]])
    this.gauge('shadowflow_agent_verdict_cache_hit_ratio', 'Verdict cache hits / lookups since start (0 before the first lookup)', [], () => {
      const lookups = shapeHits() + shapeMisses()
      return [[{}, lookups === 0 ? 0 : shapeHits() / lookups]]
    })
    this.mirror('shadowflow_agent_drops_total', 'Everything dropped anywhere in the agent, by reason', ['reason'], () => Object.entries(this.dropsByReason()).map(([reason, n]) => [{ reason }, n]))
    this.mirror('shadowflow_agent_late_records_total', 'Records whose interval had already been emitted, folded into the oldest open interval', [],
      () => [[{}, s().aggregator?.().late ?? 0]])
    this.mirror('shadowflow_agent_flow_logs_total', 'Flow logs emitted (one per key and interval)', [], () => [[{}, s().aggregator?.().flowLogsEmitted ?? 0]])
    this.mirror('shadowflow_agent_flow_key_resets_total', 'Times the flow-key numbering started afresh (policy/inventory change, or many keys of closed intervals)', [],
      () => [[{}, s().aggregator?.().keyNumberResets ?? 0]])
    this.mirror('shadowflow_agent_flow_shape_table_resets_total', 'Times the table of evaluated flow shapes reached its bound and was emptied', [],
      () => [[{}, s().aggregator?.().shapeTableResets ?? 0]])
    this.mirror('shadowflow_agent_cache_evictions_total', 'Entries dropped from the bounded verdict caches (flow shapes, the engine\'s per-end verdicts), by cache', ['cache'], () => {
      const e = s().engine?.()
      return [[{ cache: 'flow_shape' }, s().aggregator?.().shapeEvictions ?? 0], [{ cache: 'end_verdict' }, e?.endCacheEvictions ?? 0]]
    })
    this.gauge('shadowflow_agent_tracked_flows', 'Flows with last-seen counters held', [], () => [[{}, s().aggregator?.().trackedFlows ?? 0]])
    this.gauge('shadowflow_agent_open_flow_logs', 'Flow logs of intervals not yet emitted', [], () => [[{}, s().aggregator?.().openFlowLogs ?? 0]])

    const ex = (): ExporterMetricStats | undefined => s().exporter?.()
    this.gauge('shadowflow_agent_exporter_connected', '1 while the exporter stream to the aggregator is open', [], () => [[{}, ex()?.connected === true ? 1 : 0]])
    this.gauge('shadowflow_agent_exporter_queue_flow_logs', 'Flow logs in the export buffer (unacknowledged and recently acknowledged)', [], () => [[{}, ex()?.queueFlowLogs ?? 0]])
    this.gauge('shadowflow_agent_exporter_queue_bytes', 'Bytes of the export buffer', [], () => [[{}, ex()?.queueBytes ?? 0]])
    this.gauge('shadowflow_agent_exporter_unacknowledged_flow_logs', 'Flow logs sent or queued without a receipt', [], () => [[{}, ex()?.unacknowledged ?? 0]])
    this.mirror('shadowflow_agent_exporter_sent_total', 'Flow updates written to the stream (resends included)', [], () => [[{}, ex()?.sent ?? 0]])
    this.mirror('shadowflow_agent_exporter_resent_total', 'Flow updates written again after a reconnection', [], () => [[{}, ex()?.resent ?? 0]])
    this.mirror('shadowflow_agent_exporter_acks_total', 'Flow receipts received', [], () => [[{}, ex()?.acks ?? 0]])
    this.mirror('shadowflow_agent_exporter_reconnects_total', 'Reconnections to the aggregator', [], () => [[{}, ex()?.reconnects ?? 0]])
    this.mirror('shadowflow_agent_exporter_dropped_total', 'Flow logs dropped before a receipt, by reason (overflow, aged, stopped)', ['reason'],
      () => Object.entries(ex()?.dropped ?? { overflow: 0, aged: 0, stopped: 0 }).map(([reason, n]) => [{ reason }, n]))

    const tap = (): TapStats | undefined => s().tap?.()
    this.mirror('shadowflow_agent_tap_packets_total', 'Packets seen by the tap', [], () => [[{}, tap()?.packets ?? 0]])
    this.mirror('shadowflow_agent_tap_records_total', 'Records the tap produced, by kind', ['kind'],
      () => Object.entries(tap()?.records ?? { start: 0, update: 0, end: 0, evicted: 0 }).map(([kind, n]) => [{ kind }, n]))
    this.gauge('shadowflow_agent_tap_flows_active', 'Flows in the tap\'s flow table', [], () => [[{}, tap()?.flowsActive ?? 0]])
    this.mirror('shadowflow_agent_tap_connections_started_total', 'TCP connections whose SYN the tap saw', [], () => [[{}, tap()?.connectionsStarted ?? 0]])
  }

  /** Connects the scrape-time sources. */
  observe (sources: MetricSources): void { this.sources = { ...this.sources, ...sources } }

  /** Every drop in the agent by reason (also GetStatus's drops_by_reason). */
  dropsByReason (): Record<string, number> {
    const out: Record<string, number> = {}
    const a = this.sources.aggregator?.()
    out.not_local = a?.drops.notLocal ?? 0
    out.bad_address = a?.drops.badAddress ?? 0
    out.tracked_flow_evicted = a?.drops.trackedFlowEvicted ?? 0
    out.flow_log_overflow = a?.drops.flowLogOverflow ?? 0
    const t = this.sources.tap?.()
    out.tap_not_ip = t?.notIp ?? 0
    out.tap_ring_overflow = t?.ringOverflowRecords ?? 0
    out.tap_kernel = t?.kernel?.dropped ?? 0
    out.tap_fragments_unattributed = t?.fragmentsUnattributed ?? 0
    for (const [reason, n] of Object.entries(t?.malformedByReason ?? {})) out[`tap_malformed_${reason}`] = n
    const e = this.sources.exporter?.()
    out.export_overflow = e?.dropped.overflow ?? 0
    out.export_aged = e?.dropped.aged ?? 0
    out.export_stopped = e?.dropped.stopped ?? 0
    return out
  }

  private mirror (name: string, help: string, labelNames: string[], read: Read): void {
    // A counter whose value is owned elsewhere: re-set at every scrape from the monotonic source.
    new Counter({ name, help, labelNames, registers: [this.registry], collect () { this.reset(); for (const [labels, n] of read()) this.inc(labels, n) } })
  }

  private gauge (name: string, help: string, labelNames: string[], read: Read): void {
    new Gauge({ name, help, labelNames, registers: [this.registry], collect () { this.reset(); for (const [labels, n] of read()) this.set(labels, n) } })
  }

  /** Prometheus text exposition. */
  async text (): Promise<string> { return await this.registry.metrics() }
}
