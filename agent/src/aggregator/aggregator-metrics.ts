// The aggregator's Prometheus metrics (prom-client, one registry per aggregator so tests can run several).
// Values are owned by the store, the deduplicator and the node registry and read at scrape time, so ingesting a
// flow update pays nothing for metrics.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { FlowStore } from './flow-store.js'
import type { NodeRegistry } from './node-registry.js'
import type { ResendDeduplicator } from './resend-deduplicator.js'

/** Metric names, for the README and tests. */
export const AGGREGATOR_METRIC_NAMES = Object.freeze([
  'shadowflow_aggregator_flow_updates_total', 'shadowflow_aggregator_duplicate_updates_total',
  'shadowflow_aggregator_invalid_updates_total', 'shadowflow_aggregator_node_connected',
  'shadowflow_aggregator_node_lag_seconds', 'shadowflow_aggregator_nodes_forgotten_total',
  'shadowflow_aggregator_store_flows', 'shadowflow_aggregator_store_keys', 'shadowflow_aggregator_store_ingested_total',
  'shadowflow_aggregator_store_removed_flows_total', 'shadowflow_aggregator_store_removed_buckets_total',
  'shadowflow_aggregator_dedup_entries', 'shadowflow_aggregator_dedup_evicted_total', 'shadowflow_aggregator_live_streams'
])

type Read = () => Array<[Record<string, string>, number]>

/** What the metrics read. */
export interface AggregatorMetricSources {
  store: FlowStore
  dedup: ResendDeduplicator
  nodes: NodeRegistry
  liveStreams: () => number
}

/** Creates the aggregator's registry over its sources. */
export function createAggregatorMetrics (sources: AggregatorMetricSources, options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry()
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry })
  const mirror = (name: string, help: string, labelNames: string[], read: Read): void => {
    // A counter whose value is owned elsewhere: re-set at every scrape from the monotonic source.
    new Counter({ name, help, labelNames, registers: [registry], collect () { this.reset(); for (const [labels, n] of read()) this.inc(labels, n) } })
  }
  const gauge = (name: string, help: string, labelNames: string[], read: Read): void => {
    new Gauge({ name, help, labelNames, registers: [registry], collect () { this.reset(); for (const [labels, n] of read()) this.set(labels, n) } })
  }
  const { store, dedup, nodes } = sources
  mirror('shadowflow_aggregator_flow_updates_total', 'Flow updates received, by node (duplicates and invalid ones included)', ['node'],
    () => nodes.list().map(n => [{ node: n.id }, n.updatesReceived]))
  mirror('shadowflow_aggregator_duplicate_updates_total', 'Resent flow updates recognised and not added again, by node', ['node'],
    () => nodes.list().map(n => [{ node: n.id }, n.duplicatesDropped]))
  mirror('shadowflow_aggregator_invalid_updates_total', 'Flow updates acknowledged but not stored because they were malformed, by node', ['node'],
    () => nodes.list().map(n => [{ node: n.id }, n.invalidUpdates]))
  gauge('shadowflow_aggregator_node_connected', '1 while the node has a Connect stream open', ['node'],
    () => nodes.list().map(n => [{ node: n.id }, n.connected ? 1 : 0]))
  gauge('shadowflow_aggregator_node_lag_seconds', 'Seconds between now and the newest flow end time received from the node', ['node'],
    () => nodes.list().map(n => [{ node: n.id }, n.lagSeconds]))
  mirror('shadowflow_aggregator_nodes_forgotten_total', 'Disconnected nodes forgotten to stay under the node bound', [], () => [[{}, nodes.forgotten]])
  gauge('shadowflow_aggregator_store_flows', 'Stored (15 s bucket, flow key) entries', [], () => [[{}, store.size]])
  gauge('shadowflow_aggregator_store_keys', 'Distinct flow keys stored', [], () => [[{}, store.keyCount]])
  mirror('shadowflow_aggregator_store_ingested_total', 'Flow logs offered to the store, by outcome (added, merged, too_old, dropped_full)', ['outcome'], () => {
    const s = store.stats()
    return [[{ outcome: 'added' }, s.added], [{ outcome: 'merged' }, s.merged], [{ outcome: 'too_old' }, s.rejectedTooOld], [{ outcome: 'dropped_full' }, s.droppedFull]]
  })
  mirror('shadowflow_aggregator_store_removed_flows_total', 'Stored entries removed, by reason (expired: left the retention window; evicted: memory bound)', ['reason'], () => {
    const s = store.stats()
    return [[{ reason: 'expired' }, s.expiredFlows], [{ reason: 'evicted' }, s.evictedFlows]]
  })
  mirror('shadowflow_aggregator_store_removed_buckets_total', 'Buckets removed, by reason (expired, evicted)', ['reason'], () => {
    const s = store.stats()
    return [[{ reason: 'expired' }, s.expiredBuckets], [{ reason: 'evicted' }, s.evictedBuckets]]
  })
  gauge('shadowflow_aggregator_dedup_entries', 'Delivered updates remembered to recognise resends', [], () => [[{}, dedup.stats().entries]])
  mirror('shadowflow_aggregator_dedup_evicted_total', 'Remembered updates forgotten early to stay under the bound (their resends would count twice)', [], () => [[{}, dedup.stats().evicted]])
  gauge('shadowflow_aggregator_live_streams', 'Open Flows.Stream and followed fan-out calls', [], () => [[{}, sources.liveStreams()]])
  return registry
}
