// `npm run bench -- pipeline`: the running system's four figures from the issue, each against a baseline
// measured in the same run. One JSON line per metric on stdout, progress on stderr. Each part runs in its own
// node process (this file with the part's name), so one part's heap never colours another's timing or RSS.
//  - throughput: records/s through tap → evaluate (both pipelines) → aggregate with the synthetic source, using
//    the agent's FlowPipeline over the generated 5,000-pod / 1,000-policy cluster re-addressed to the synthetic
//    source's 10.244.x.y scheme; baseline: the same records through the tap alone, decoded in TypeScript, not
//    evaluated. Two workloads, each its own part and metric:
//     · `throughput-node` (tap-evaluate-aggregate-node): what a node agent sees — 110 of the 5,000 pods
//       (Kubernetes' default pod limit per node) run on the agent's node and every flow has one of them at one
//       end (the synthetic source's localEndpoints), the peer anywhere in the cluster by Zipf popularity;
//     · `throughput` (tap-evaluate-aggregate): a stress case — every pod local (replay's view), both ends of
//       every flow drawn from all 5,000 pods, so nearly every flow is a new pod pair and both ends report.
//    The issue's target (≥ 500,000 records/s on one core) is the agent's, so it is checked on the node workload;
//    the stress case prints its figure against that number (versusAgentTarget) without a target of its own: no
//    agent sees every pod of a cluster as local (README, "Which workload the target applies to").
//  - export: flow updates/s agent → aggregator over loopback gRPC through FlowExporter and the aggregator's
//    Connect server (mapping, buffering, dedup, store); baseline: a raw grpc-js bidi stream of the same
//    messages to a server that only answers each with a receipt.
//  - list: FlowStore.list latency over 1,000,000 stored flows (distinct keys), p50/p99 over a few hundred mixed
//    queries; baseline: the naive List (aggregate all, sort all, slice) on a sample of the same queries, whose
//    results are checked equal.
//  - rss: the agent's resident memory with 1,000,000 live flows in its flow-log aggregator; baseline: before.
// Environment: SHADOWFLOW_BENCH_RECORDS (default 1,000,000), SHADOWFLOW_BENCH_UPDATES (default 100,000),
// SHADOWFLOW_BENCH_SKEW (Zipf exponent of the synthetic source's pod popularity, default 1.0).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { FlowExporter } from '../../agent/src/agent/flow-exporter.js'
import { FlowPipeline } from '../../agent/src/agent/flow-pipeline.js'
import type { PolicySet } from '../../agent/src/agent/policy-source.js'
import { startAggregator } from '../../agent/src/aggregator/aggregator-server.js'
import { FlowStore, type FlowListQuery } from '../../agent/src/aggregator/flow-store.js'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { flowFilter } from '../../agent/src/flows/flow-filter.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'
import type { FlowRecord } from '../../agent/src/flows/flow-record.js'
import { flowLogToWire } from '../../agent/src/grpc/goldmane-mapping.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlowReceipt, WireFlowUpdate } from '../../agent/src/grpc/wire-types.js'
import { normalizePolicies } from '../../agent/src/policy/normalized-policy.js'
import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import { emptyRecord } from '../../agent/src/tap/record-layout.js'
import { silentLogger } from '../../agent/src/telemetry/logger.js'
import { distinctFlowLogs, syntheticAddress, syntheticCluster, type SyntheticCluster } from './fixtures/synthetic-cluster.js'
import { naiveFlowList } from './naive-flow-list.js'

const TARGET_RECORDS_PER_S = 500_000
const TARGET_EXPORT_RATIO = 0.5
const TARGET_LIST_P99_MS = 100
const RECORDS = Number(process.env.SHADOWFLOW_BENCH_RECORDS ?? 1_000_000)
const UPDATES = Number(process.env.SHADOWFLOW_BENCH_UPDATES ?? 100_000)
const STORED_FLOWS = 1_000_000
const LIVE_FLOWS = 1_000_000
/** Flows live at once in the synthetic generator (each lives for 2–5 records). */
const SYNTHETIC_FLOWS = 20_000
/** Zipf exponent of pod popularity in the synthetic source (its default is 1.0). */
const SKEW = Number(process.env.SHADOWFLOW_BENCH_SKEW ?? 1.0)
/** Pods on the agent's node in the node workload (Kubernetes' default --max-pods). */
const NODE_PODS = 110
const BENCH_NODE = 'bench-node'
const PARTS = ['throughput-node', 'throughput', 'export', 'list', 'rss'] as const
type Part = typeof PARTS[number]

function emit (line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'pipeline', ...line })}\n`)
}

function progress (text: string): void {
  process.stderr.write(`pipeline: ${text}\n`)
}

function round (x: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function nowMs (): number {
  return performance.now()
}

function percentile (values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number
}

function policySet (c: SyntheticCluster): PolicySet {
  return { generation: 1, resources: c.resources, directory: new InventoryDirectory(c.resources), policies: normalizePolicies(c.resources), tiers: c.cluster.tiers, loadedAtMs: Date.now() }
}

/** A workload: the cluster as the agent's node sees it and how the synthetic source draws flows. */
interface Workload {
  readonly metric: string
  readonly cluster: SyntheticCluster
  readonly allLocal: boolean
  /** The synthetic source's localEndpoints (0: both ends from every pod). */
  readonly localEndpoints: number
  readonly description: string
  /** Whether the issue's records/s target applies (the agent's own workload). */
  readonly hasTarget: boolean
}

function nodeWorkload (): Workload {
  return {
    metric: 'tap-evaluate-aggregate-node',
    cluster: syntheticCluster(undefined, { node: BENCH_NODE, count: NODE_PODS }),
    allLocal: false,
    localEndpoints: NODE_PODS,
    description: `node agent's view: ${NODE_PODS} of the pods run on the agent's node and every flow has one of them at one end (source or destination, by Zipf popularity among them), the peer any pod by Zipf ${SKEW}; only local ends report`,
    hasTarget: true
  }
}

function everyPodLocalWorkload (): Workload {
  return {
    metric: 'tap-evaluate-aggregate',
    cluster: syntheticCluster(),
    allLocal: true,
    localEndpoints: 0,
    description: 'stress case: every pod local (replay\'s view), both ends of every flow drawn by Zipf popularity from all pods, so nearly every flow is a new pod pair; both ends report',
    hasTarget: false
  }
}

function syntheticSource (w: Workload, records: number, seed: number): ReturnType<typeof openTapSource> {
  return openTapSource(`synthetic:${SYNTHETIC_FLOWS},0`, { endpoints: w.cluster.endpoints, skew: SKEW, localEndpoints: w.localEndpoints, limit: records, seed })
}

// --- (a) records/s through tap → evaluate → aggregate ------------------------------------------------------

async function tapOnly (w: Workload, records: number, seed: number): Promise<number> {
  const source = syntheticSource(w, records, seed)
  let seen = 0
  let checksum = 0
  const start = nowMs()
  const scratch = emptyRecord()
  for await (const batch of source) {
    // Decoded as the pipeline decodes (into one reused object).
    for (let i = 0; i < batch.count; i++) checksum += (batch.recordInto?.(i, scratch) ?? batch.record(i)).packetsFwd
    seen += batch.count
  }
  const ms = nowMs() - start
  if (seen !== records || checksum < 0) throw new Error(`the tap delivered ${seen} of ${records} records`)
  return seen / (ms / 1000)
}

async function throughPipeline (pipeline: FlowPipeline, w: Workload, records: number, seed: number): Promise<{ perS: number, flowLogs: number }> {
  const source = syntheticSource(w, records, seed)
  let flowLogs = 0
  const before = pipeline.records
  const start = nowMs()
  await pipeline.run(source, { clock: 'wall', sink: logs => { flowLogs += logs.length } })
  const ms = nowMs() - start
  const seen = pipeline.records - before
  if (seen !== records) throw new Error(`the pipeline saw ${seen} of ${records} records`)
  return { perS: seen / (ms / 1000), flowLogs }
}

async function partThroughput (w: Workload): Promise<void> {
  const c = w.cluster
  const pipeline = new FlowPipeline({ nodeName: BENCH_NODE, allLocal: w.allLocal, stagedMode: 'calico', intervalSeconds: 15, maxTrackedFlows: 1 << 18, recentFlows: 4096 })
  pipeline.apply(policySet(c))
  progress(`${w.metric}: ${c.endpoints} pods at 10.244.x.y; warming up`)
  await throughPipeline(pipeline, w, 500_000, 1)
  await tapOnly(w, 500_000, 1)
  const runs: Array<{ pipeline: number, tap: number }> = []
  for (let i = 0; i < 2; i++) {
    const tap = await tapOnly(w, RECORDS, 7 + i)
    progress(`tap alone: ${Math.round(tap)} records/s`)
    const through = await throughPipeline(pipeline, w, RECORDS, 7 + i)
    progress(`tap → evaluate → aggregate: ${Math.round(through.perS)} records/s, ${through.flowLogs} flow logs`)
    runs.push({ pipeline: through.perS, tap })
  }
  const best = runs.reduce((a, b) => (b.pipeline > a.pipeline ? b : a))
  const stats = pipeline.aggregator.stats()
  const engine = pipeline.engine.stats()
  emit({
    metric: w.metric,
    value: Math.round(best.pipeline),
    unit: 'records/s',
    baseline: Math.round(best.tap),
    ratio: round(best.pipeline / best.tap, 3),
    workload: w.description,
    note: `synthetic source (${SYNTHETIC_FLOWS} live flows of 2–5 records each, ${c.endpoints} pods), ${RECORDS} records per run, best of ${runs.length} runs after a 500k-record warm-up; FlowPipeline: every new flow given the verdicts of its local end(s) in both pipelines (flow-shape cache, then the engine with its per-end cache; a remote peer's verdict only when its raw flow is read), every record folded into flow logs for each local end; baseline: the same records decoded in TypeScript, nothing else. The generator runs on its own native thread; everything measured runs on the main thread`,
    runs: runs.map(r => ({ pipeline: Math.round(r.pipeline), tap: Math.round(r.tap) })),
    evaluations: stats.evaluations,
    reportedSrc: stats.reportedSrc,
    reportedDst: stats.reportedDst,
    notLocal: stats.drops.notLocal,
    // New flows whose verdicts came from the flow-shape cache; the rest the engine evaluated (per-end cache).
    verdictCacheHitRatio: stats.evaluations > 0 ? round(stats.shapeCacheHits / stats.evaluations, 4) : null,
    endCacheHitRatio: engine.endCacheHits + engine.endCacheMisses > 0 ? round(engine.endCacheHits / (engine.endCacheHits + engine.endCacheMisses), 4) : null,
    ...(w.hasTarget
      ? { target: `>= ${TARGET_RECORDS_PER_S}`, meetsTarget: best.pipeline >= TARGET_RECORDS_PER_S }
      : { target: null, versusAgentTarget: round(best.pipeline / TARGET_RECORDS_PER_S, 3) })
  })
}

// --- (b) flow updates/s agent → aggregator over loopback gRPC ----------------------------------------------

async function rawStream (updates: readonly WireFlowUpdate[]): Promise<number> {
  const protos = loadProtos()
  const server = new grpc.Server()
  server.addService(protos.goldmane.FlowCollector.service, {
    Connect: (call: grpc.ServerDuplexStream<WireFlowUpdate, WireFlowReceipt>) => {
      call.on('data', () => { call.write({}) })
      call.on('end', () => { call.end() })
    }
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => e === null ? resolve(p) : reject(e)))
  const client = new protos.goldmane.FlowCollector(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  try {
    const call = client.Connect()
    let receipts = 0
    const start = nowMs()
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', () => { if (++receipts === updates.length) resolve() })
      call.on('error', reject)
    })
    let i = 0
    const pump = (): void => {
      while (i < updates.length) {
        if (!call.write(updates[i++] as WireFlowUpdate)) { call.once('drain', pump); return }
      }
    }
    pump()
    await done
    const ms = nowMs() - start
    call.end()
    return updates.length / (ms / 1000)
  } finally {
    client.close()
    server.forceShutdown()
  }
}

async function throughExporter (logs: readonly FlowLog[]): Promise<{ perS: number, stored: number }> {
  const aggregator = await startAggregator({ listen: '127.0.0.1:0', maxFlows: 4 * logs.length })
  const exporter = new FlowExporter({
    protos: loadProtos(),
    address: aggregator.address,
    credentials: grpc.credentials.createInsecure(),
    nodeName: 'bench-node',
    queryAddress: () => '',
    maxBufferBytes: 2 ** 31,
    maxBufferAgeMs: 3_600_000,
    logger: silentLogger()
  })
  try {
    exporter.start()
    const deadline = Date.now() + 10_000
    while (exporter.status().state !== 'connected') {
      if (Date.now() > deadline) throw new Error('the exporter did not connect')
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    const start = nowMs()
    exporter.enqueue(logs)
    if (!await exporter.waitForReceipts(120_000)) throw new Error('receipts did not all arrive')
    const ms = nowMs() - start
    return { perS: logs.length / (ms / 1000), stored: aggregator.store.size }
  } finally {
    await exporter.stop(0)
    await aggregator.close(0)
  }
}

async function partExport (): Promise<void> {
  const now = Math.floor(Date.now() / 1000)
  // Distinct keys in the last five minutes: every update is stored, none is a duplicate.
  const logs = [...distinctFlowLogs(UPDATES, now - 300, now - 15)]
  const wire = logs.map(log => ({ flow: flowLogToWire(log) }))
  progress(`${logs.length} flow updates; warming up`)
  await rawStream(wire.slice(0, 10_000))
  await throughExporter(logs.slice(0, 10_000))
  const runs: Array<{ exporter: number, raw: number }> = []
  let stored = 0
  for (let i = 0; i < 2; i++) {
    const raw = await rawStream(wire)
    progress(`raw grpc-js stream: ${Math.round(raw)} updates/s`)
    const real = await throughExporter(logs)
    progress(`FlowExporter → aggregator: ${Math.round(real.perS)} updates/s (${real.stored} stored)`)
    stored = real.stored
    runs.push({ exporter: real.perS, raw })
  }
  const best = runs.reduce((a, b) => (b.exporter / b.raw > a.exporter / a.raw ? b : a))
  emit({
    metric: 'export-updates',
    value: Math.round(best.exporter),
    unit: 'updates/s',
    baseline: Math.round(best.raw),
    ratio: round(best.exporter / best.raw, 3),
    note: `${logs.length} distinct flow logs enqueued at once into FlowExporter, timed until every receipt came back from the aggregator's Connect server (wire mapping, export buffer, dedup, store; all of them stored); baseline: the same FlowUpdates (mapped beforehand) written on a raw grpc-js bidi stream to a server that only answers each with a receipt; both over loopback, client and server in this one process; best ratio of ${runs.length} alternating runs`,
    runs: runs.map(r => ({ exporter: Math.round(r.exporter), raw: Math.round(r.raw) })),
    stored,
    target: `ratio >= ${TARGET_EXPORT_RATIO}`,
    meetsTarget: best.exporter / best.raw >= TARGET_EXPORT_RATIO
  })
}

// --- (c) List latency over 1,000,000 stored flows -------------------------------------------------------------

interface QueryKind { name: string, make: (i: number) => FlowListQuery }

const QUERY_KINDS: readonly QueryKind[] = [
  { name: 'default sort, page 0', make: () => ({ page: 0, pageSize: 100 }) },
  { name: 'DestName, page 0', make: () => ({ page: 0, pageSize: 100, sortBy: ['DestName'] }) },
  { name: 'filter dest namespace, page 0', make: i => ({ page: 0, pageSize: 100, filter: flowFilter({ destNamespaces: [{ value: `team-${(i * 37) % 500}`, type: 'Exact' }] }) }) },
  { name: 'filter fuzzy name + Deny, DestName', make: i => ({ page: 0, pageSize: 50, sortBy: ['DestName'], filter: flowFilter({ sourceNames: [{ value: ['web', 'api', 'db'][i % 3] as string, type: 'Fuzzy' }], actions: ['Deny'] }) }) },
  { name: 'default sort, page 99', make: () => ({ page: 99, pageSize: 100 }) },
  { name: 'DestName, page 99', make: () => ({ page: 99, pageSize: 100, sortBy: ['DestName'] }) },
  { name: 'last 10 minutes, SourceNamespace+DestName', make: () => ({ page: 0, pageSize: 100, startTimeGte: -600, sortBy: ['SourceNamespace', 'DestName'] }) },
  { name: 'pending-changed, page 5', make: () => ({ page: 5, pageSize: 100, filter: flowFilter({ pendingChangedOnly: true }) }) }
]
const QUERIES_PER_KIND = 40

async function partList (): Promise<void> {
  const now = Math.floor(Date.now() / 1000)
  const store = new FlowStore({ retentionSeconds: 3600, maxFlows: STORED_FLOWS, nowSeconds: () => now })
  const fillStart = nowMs()
  for (const log of distinctFlowLogs(STORED_FLOWS, now - 3585, now)) store.ingest(log)
  if (store.size !== STORED_FLOWS || store.keyCount !== STORED_FLOWS) throw new Error(`stored ${store.size} entries of ${store.keyCount} keys, expected ${STORED_FLOWS} distinct`)
  progress(`stored ${store.size} flows (${store.keyCount} keys) in ${Math.round(nowMs() - fillStart)} ms`)

  // The sample the naive List runs on; its results must equal the store's (the figures are about a correct List).
  const naiveMs: number[] = []
  for (const [k, kind] of QUERY_KINDS.entries()) {
    const query = kind.make(k)
    const start = nowMs()
    const expected = naiveFlowList(store, query)
    naiveMs.push(nowMs() - start)
    const got = store.list(query)
    const same = got.totalResults === expected.totalResults && got.items.length === expected.items.length &&
      got.items.every((r, i) => r.id === expected.items[i]?.id && r.flow.startTime === expected.items[i]?.flow.startTime)
    if (!same) throw new Error(`List differs from the naive List for "${kind.name}"`)
    progress(`naive "${kind.name}": ${Math.round(naiveMs[naiveMs.length - 1] as number)} ms, ${expected.totalResults} results`)
  }

  const queries: Array<{ kind: string, query: FlowListQuery }> = []
  for (let i = 0; i < QUERIES_PER_KIND; i++) for (const kind of QUERY_KINDS) queries.push({ kind: kind.name, query: kind.make(i) })
  for (const { query } of queries.slice(0, QUERY_KINDS.length * 2)) store.list(query)
  const latencies: number[] = []
  const byKind = new Map<string, number[]>()
  let results = 0
  for (const { kind, query } of queries) {
    const start = nowMs()
    results += store.list(query).items.length
    const ms = nowMs() - start
    latencies.push(ms)
    byKind.set(kind, [...(byKind.get(kind) ?? []), ms])
  }
  const p50 = percentile(latencies, 0.5)
  const p99 = percentile(latencies, 0.99)
  const common = {
    unit: 'ms',
    storedFlows: store.size,
    queries: latencies.length,
    baselineQueries: naiveMs.length,
    note: `FlowStore.list over ${store.size} stored flows (distinct keys, 239 buckets of the last hour), ${latencies.length} queries: ${QUERY_KINDS.length} kinds × ${QUERIES_PER_KIND} after a warm-up round; baseline: the naive List (aggregate all, sort all, slice — the store's List before top-K selection) once per kind, results checked equal`,
    perKindP50Ms: Object.fromEntries([...byKind].map(([k, v]) => [k, round(percentile(v, 0.5), 2)])),
    resultsReturned: results
  }
  emit({ metric: 'list-latency-p50', value: round(p50, 2), baseline: round(percentile(naiveMs, 0.5), 1), ratio: round(p50 / percentile(naiveMs, 0.5), 4), ...common })
  emit({
    metric: 'list-latency-p99',
    value: round(p99, 2),
    baseline: round(percentile(naiveMs, 0.99), 1),
    ratio: round(p99 / percentile(naiveMs, 0.99), 4),
    ...common,
    maxMs: round(Math.max(...latencies), 2),
    target: `< ${TARGET_LIST_P99_MS} ms`,
    meetsTarget: p99 < TARGET_LIST_P99_MS
  })
}

// --- (d) agent RSS at 1,000,000 live flows ----------------------------------------------------------------------

function settledMemory (): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) { gc(); gc() }
  return process.memoryUsage()
}

/** A synthetic-style START record of flow `id` between two pods (what the tap hands the agent for a new flow). */
function startRecord (id: number, endpoints: number, nowMsValue: number): FlowRecord {
  const src = (id * 7919) % endpoints
  const dst = (id * 104729 + 1) % endpoints
  return {
    kind: 'start', endReason: 'none', family: 4, protocol: 6,
    srcAddr: syntheticAddress(src), dstAddr: syntheticAddress(dst),
    srcPort: 32768 + (id % 28000), dstPort: [80, 443, 5432, 6379, 8080, 9090][id % 6] as number,
    ifindex: 2, nameId: 0, packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0,
    firstSeenMs: nowMsValue, lastSeenMs: nowMsValue, flowId: id + 1,
    tcpFlagsFwd: 0x02, tcpFlagsRev: 0, state: 1, icmpType: 0, icmpCode: 0, fragments: 0, slot: 0
  }
}

async function partRss (): Promise<void> {
  const c = syntheticCluster()
  const pipeline = new FlowPipeline({ nodeName: 'bench', allLocal: true, stagedMode: 'calico', intervalSeconds: 15, maxTrackedFlows: 2 * LIVE_FLOWS, recentFlows: 4096 })
  pipeline.apply(policySet(c))
  // Prime what does not grow with flows (resolver and verdict caches over the pod pairs used) before the baseline.
  const t = Date.now()
  for (let i = 0; i < 20_000; i++) pipeline.aggregator.add({ ...startRecord(i, c.endpoints, t), kind: 'end', flowId: LIVE_FLOWS + 10 + i })
  const before = settledMemory()
  progress(`baseline RSS ${Math.round(before.rss / 2 ** 20)} MiB; adding ${LIVE_FLOWS} live flows`)
  const start = nowMs()
  for (let i = 0; i < LIVE_FLOWS; i++) pipeline.aggregator.add(startRecord(i, c.endpoints, t))
  const fillMs = nowMs() - start
  const stats = pipeline.aggregator.stats()
  if (stats.trackedFlows < LIVE_FLOWS) throw new Error(`only ${stats.trackedFlows} flows tracked`)
  const after = settledMemory()
  const bytesPerFlow = (after.rss - before.rss) / LIVE_FLOWS
  emit({
    metric: 'agent-rss-live-flows',
    value: round(after.rss / 2 ** 20, 1),
    unit: 'MiB',
    baseline: round(before.rss / 2 ** 20, 1),
    ratio: round(after.rss / before.rss, 3),
    bytesPerFlow: Math.round(bytesPerFlow),
    heapBytesPerFlow: Math.round((after.heapUsed - before.heapUsed) / LIVE_FLOWS),
    liveFlows: stats.trackedFlows,
    openFlowLogs: stats.openFlowLogs,
    fillRecordsPerS: Math.round(LIVE_FLOWS / (fillMs / 1000)),
    note: `RSS after garbage collection with ${LIVE_FLOWS} live (started, not ended) TCP flows between the generated cluster's pods in the agent's FlowLogAggregator (tracked counters, evaluated reports, open flow logs with their live sets, recent ring), both ends local; baseline: the same process before the flows, with cluster, policies and caches loaded. No target in the issue: reported`,
    target: 'none (reported)',
    meetsTarget: null
  })
}

// --- driver ----------------------------------------------------------------------------------------------------

async function runPart (part: Part): Promise<void> {
  switch (part) {
    case 'throughput-node': return await partThroughput(nodeWorkload())
    case 'throughput': return await partThroughput(everyPodLocalWorkload())
    case 'export': return await partExport()
    case 'list': return await partList()
    case 'rss': return await partRss()
  }
}

const requested = process.argv[2]
if (requested !== undefined) {
  if (!(PARTS as readonly string[]).includes(requested)) {
    process.stderr.write(`pipeline bench: unknown part "${requested}"; parts: ${PARTS.join(', ')}\n`)
    process.exit(2)
  }
  runPart(requested as Part).catch((error: unknown) => {
    process.stderr.write(`pipeline bench: ${requested} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  })
} else {
  let failed = 0
  for (const part of PARTS) {
    progress(`part ${part}`)
    const result = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=6144', fileURLToPath(import.meta.url), part], { stdio: ['ignore', 'inherit', 'inherit'] })
    if (result.status !== 0) { failed++; progress(`part ${part} failed (${result.signal ?? `exit code ${String(result.status)}`})`) }
  }
  process.exitCode = failed > 0 ? 1 : 0
}
