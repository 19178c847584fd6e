// Folds flow records into Goldmane-shaped flow logs: one FlowLog per (FlowKey, interval). Pure — no clock, no
// I/O: the caller says when intervals close (closeBefore/flushAll), so the same code serves the daemon (wall
// clock) and replay (capture time), and tests are exact.
//
// Invariants:
//  - The tap's start/update/end records carry cumulative per-flow counters; only the delta since the last record
//    of the same flowId is added (last-seen counters per flowId, bounded LRU, evictions counted).
//  - A flow is reported by each local end (Felix's behaviour): reporter Src with the egress trace of the source,
//    reporter Dst with the ingress trace of the destination. A flow with no local end is counted and skipped.
//  - Never two FlowLogs with the same key and start time: the aggregator deduplicates resends by
//    (node, key, start_time), so a record that belongs to an interval already closed is folded into the oldest
//    open interval instead (counted as `late`).
//  - The hot path never throws and never allocates a key per record: keys are built once per flow and policy
//    generation.
import assert from 'node:assert'
import type { FlowInput } from '../policy/policy-engine.js'
import type { FlowVerdicts, PolicyHit } from '../policy/policy-hit.js'
import { protocolHasPorts } from '../policy/protocol.js'
import { BoundedRing } from './bounded-ring.js'
import type { FlowEnd, FlowEndResolver, FlowService } from './flow-end.js'
import { FLOW_INTERVAL_SECONDS, type FlowKey, type FlowLog, type Reporter } from './flow-log.js'
import { connectionCompleted, connectionStarted, type FlowRecord, type FlowRecordKind } from './flow-record.js'
import { flowProtoName, type RawFlow } from './raw-flow.js'

/** Evaluates a flow in both pipelines (the PolicyEngine, cached). */
export interface FlowEvaluator {
  evaluate: (flow: FlowInput) => FlowVerdicts
}

export interface FlowLogAggregatorOptions {
  /** Interval length in seconds; a positive multiple of 15 (Goldmane's bucket). */
  intervalSeconds?: number
  /** Bound of the per-flowId last-seen counters (least recently updated evicted, counted). */
  maxTrackedFlows?: number
  /** Bound of flow logs held in open intervals; a record that would add one more is dropped and counted. */
  maxOpenFlowLogs?: number
  /** Capacity of the recent raw-flow ring (0 disables it). */
  recentFlows?: number
}

/** Why records (or parts of them) were not folded into a flow log. */
export interface AggregatorDrops {
  /** Neither end is an endpoint of this node. */
  notLocal: number
  /** An address that does not parse (a decoder bug; never expected). */
  badAddress: number
  /** Last-seen counters evicted to stay within maxTrackedFlows (a later record of that flow is counted whole). */
  trackedFlowEvicted: number
  /** Contributions lost because maxOpenFlowLogs was reached. */
  flowLogOverflow: number
}

/** Counters of the aggregator, for metrics and GetStatus. */
export interface AggregatorStats {
  records: number
  recordsByKind: Record<FlowRecordKind, number>
  /** Policy evaluations requested (once per flow and policy generation). */
  evaluations: number
  /** Records reported by the source end and the destination end. */
  reportedSrc: number
  reportedDst: number
  /** Records whose interval had already closed, folded into the oldest open one. */
  late: number
  flowLogsEmitted: number
  trackedFlows: number
  openFlowLogs: number
  drops: AggregatorDrops
}

interface Report {
  readonly id: string
  readonly key: FlowKey
  readonly sourceLabels: readonly string[]
  readonly destLabels: readonly string[]
  /**
   * The open flow log this report last folded into and its interval's start: the next record of the flow in
   * the same interval goes straight there instead of looking the (long) id up. Valid while `logStart` is that
   * interval's start — an emitted interval's start never comes back (closedBeforeSeconds only grows).
   */
  log: OpenFlowLog | undefined
  logStart: number
}

interface TrackedFlow {
  packetsFwd: number
  bytesFwd: number
  packetsRev: number
  bytesRev: number
  started: boolean
  completed: boolean
  generation: number
  reports: readonly Report[]
  raw: Omit<RawFlow, 'packetsForward' | 'bytesForward' | 'packetsReverse' | 'bytesReverse' | 'firstSeenMs' | 'lastSeenMs' | 'endReason'> | undefined
}

interface OpenFlowLog {
  readonly key: FlowKey
  sourceLabels: readonly string[]
  destLabels: readonly string[]
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  connectionsStarted: number
  connectionsCompleted: number
  /**
   * Flows seen in this interval that had not ended by its close: most flow logs only ever hold one flow, so that
   * one is kept as a number and a Set is made only for a second distinct flow (a Set per log was a large share of
   * the per-flow allocation).
   */
  liveOne: number | undefined
  liveMany: Set<number> | undefined
}

function liveAdd (log: OpenFlowLog, flowId: number): void {
  if (log.liveMany !== undefined) log.liveMany.add(flowId)
  else if (log.liveOne === undefined || log.liveOne === flowId) log.liveOne = flowId
  else { log.liveMany = new Set([log.liveOne, flowId]); log.liveOne = undefined }
}

function liveDelete (log: OpenFlowLog, flowId: number): void {
  if (log.liveMany !== undefined) log.liveMany.delete(flowId)
  else if (log.liveOne === flowId) log.liveOne = undefined
}

function liveSize (log: OpenFlowLog): number {
  return log.liveMany !== undefined ? log.liveMany.size : log.liveOne === undefined ? 0 : 1
}

const NO_REPORTS: readonly Report[] = Object.freeze([])
/** Bound of the distinct ends, hits and traces FlowKeyIds numbers before it starts over. */
const MAX_KEY_ID_CONTENTS = 1 << 20

/** The enforced or pending action at one end: its trace's deciding (last) hit; no trace = not evaluated = Allow. */
export function endAction (hits: readonly PolicyHit[]): 'Allow' | 'Deny' {
  const last = hits[hits.length - 1]
  return last?.action === 'Deny' ? 'Deny' : 'Allow'
}

function intersectSorted (a: readonly string[], b: readonly string[]): readonly string[] {
  if (a === b) return a
  const other = new Set(b)
  return a.filter(x => other.has(x))
}

/** Flow records in, flow logs out. */
export class FlowLogAggregator {
  readonly intervalSeconds: number
  private readonly maxTrackedFlows: number
  private readonly maxOpenFlowLogs: number
  private readonly flows = new Map<number, TrackedFlow>()
  private readonly intervals = new Map<number, Map<string, OpenFlowLog>>()
  private openFlowLogs = 0
  /** Intervals starting before this (Unix seconds) have been emitted. */
  private closedBeforeSeconds = -Infinity
  private generation = 0
  private keyIds = new FlowKeyIds()
  /** Recent raw flows (one entry per record, latest counters). */
  readonly recent: BoundedRing<RawFlow> | undefined
  private readonly counters: Omit<AggregatorStats, 'trackedFlows' | 'openFlowLogs'> = {
    records: 0,
    recordsByKind: { start: 0, update: 0, end: 0, evicted: 0 },
    evaluations: 0,
    reportedSrc: 0,
    reportedDst: 0,
    late: 0,
    flowLogsEmitted: 0,
    drops: { notLocal: 0, badAddress: 0, trackedFlowEvicted: 0, flowLogOverflow: 0 }
  }

  constructor (private evaluator: FlowEvaluator, private resolver: FlowEndResolver, options: FlowLogAggregatorOptions = {}) {
    this.intervalSeconds = options.intervalSeconds ?? FLOW_INTERVAL_SECONDS
    assert(Number.isInteger(this.intervalSeconds) && this.intervalSeconds > 0 && this.intervalSeconds % FLOW_INTERVAL_SECONDS === 0,
      `intervalSeconds must be a positive multiple of ${FLOW_INTERVAL_SECONDS}`)
    this.maxTrackedFlows = options.maxTrackedFlows ?? 262144
    this.maxOpenFlowLogs = options.maxOpenFlowLogs ?? 1 << 20
    const recent = options.recentFlows ?? 4096
    this.recent = recent > 0 ? new BoundedRing<RawFlow>(recent) : undefined
  }

  /** Policies or inventory changed: flows are re-resolved and re-evaluated on their next record. */
  setPipeline (evaluator: FlowEvaluator, resolver: FlowEndResolver): void {
    this.evaluator = evaluator
    this.resolver = resolver
    this.resetKeyIds()
  }

  /**
   * Starts the key numbering afresh (bounded memory: old ends, hits and traces are forgotten). Open flow logs are
   * re-keyed under the new numbering and every flow re-evaluated on its next record (its reports carry old ids),
   * so a key never gets two open flow logs in one interval.
   */
  private resetKeyIds (): void {
    this.keyIds = new FlowKeyIds()
    this.generation++
    for (const [start, bucket] of this.intervals) {
      const rekeyed = new Map<string, OpenFlowLog>()
      for (const log of bucket.values()) rekeyed.set(this.keyIds.id(log.key), log)
      this.intervals.set(start, rekeyed)
    }
  }

  /** Folds one record. Never throws on bad input: it is counted instead. */
  add (record: FlowRecord): void {
    const c = this.counters
    c.records++
    c.recordsByKind[record.kind]++
    const ended = record.kind === 'end' || record.kind === 'evicted'
    let flow = this.flows.get(record.flowId)
    const isNew = flow === undefined
    if (flow === undefined) {
      if (this.flows.size >= this.maxTrackedFlows) {
        // Map order is insertion order and updates re-insert: the first key is the least recently updated flow.
        const oldest = this.flows.keys().next().value
        if (oldest !== undefined) this.flows.delete(oldest)
        c.drops.trackedFlowEvicted++
      }
      flow = { packetsFwd: 0, bytesFwd: 0, packetsRev: 0, bytesRev: 0, started: false, completed: false, generation: -1, reports: NO_REPORTS, raw: undefined }
    } else {
      this.flows.delete(record.flowId)
    }
    if (!ended) this.flows.set(record.flowId, flow)

    const dPacketsFwd = delta(record.packetsFwd, flow.packetsFwd)
    const dBytesFwd = delta(record.bytesFwd, flow.bytesFwd)
    const dPacketsRev = delta(record.packetsRev, flow.packetsRev)
    const dBytesRev = delta(record.bytesRev, flow.bytesRev)
    flow.packetsFwd = record.packetsFwd
    flow.bytesFwd = record.bytesFwd
    flow.packetsRev = record.packetsRev
    flow.bytesRev = record.bytesRev
    // A TCP connection starts with the initiator's SYN (a flow first seen mid-stream started before capture);
    // other protocols start with their first record. It completes at TCP close or when the tap ends the flow.
    let started = 0
    if (!flow.started && (record.protocol === 6 ? connectionStarted(record) : isNew)) { flow.started = true; started = 1 }
    let completed = 0
    if (flow.started && !flow.completed && (ended || (record.protocol === 6 && connectionCompleted(record)))) { flow.completed = true; completed = 1 }

    if (flow.generation !== this.generation) this.evaluateFlow(record, flow)
    if (flow.raw !== undefined && this.recent !== undefined) this.recent.push(rawFlowOf(flow.raw, record))
    if (flow.reports.length === 0) return

    let start = Math.floor(record.lastSeenMs / 1000 / this.intervalSeconds) * this.intervalSeconds
    if (start < this.closedBeforeSeconds) { start = this.closedBeforeSeconds; c.late++ }
    let bucket = this.intervals.get(start)
    if (bucket === undefined) { bucket = new Map(); this.intervals.set(start, bucket) }
    for (const report of flow.reports) {
      let log = report.logStart === start ? report.log : bucket.get(report.id)
      if (log === undefined) {
        if (this.openFlowLogs >= this.maxOpenFlowLogs) { c.drops.flowLogOverflow++; continue }
        log = { key: report.key, sourceLabels: report.sourceLabels, destLabels: report.destLabels, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, connectionsStarted: 0, connectionsCompleted: 0, liveOne: undefined, liveMany: undefined }
        bucket.set(report.id, log)
        this.openFlowLogs++
        report.log = log
        report.logStart = start
      } else {
        report.log = log
        report.logStart = start
        // generateName aggregation puts several pods under one name: keep the labels they share (as Felix does).
        log.sourceLabels = intersectSorted(log.sourceLabels, report.sourceLabels)
        log.destLabels = intersectSorted(log.destLabels, report.destLabels)
      }
      // In/out are seen from the reporting end: the source sends forward traffic, the destination receives it.
      if (report.key.reporter === 'Src') {
        log.packetsOut += dPacketsFwd; log.bytesOut += dBytesFwd; log.packetsIn += dPacketsRev; log.bytesIn += dBytesRev
        c.reportedSrc++
      } else {
        log.packetsIn += dPacketsFwd; log.bytesIn += dBytesFwd; log.packetsOut += dPacketsRev; log.bytesOut += dBytesRev
        c.reportedDst++
      }
      log.connectionsStarted += started
      log.connectionsCompleted += completed
      if (ended) liveDelete(log, record.flowId)
      else liveAdd(log, record.flowId)
    }
  }

  private evaluateFlow (record: FlowRecord, flow: TrackedFlow): void {
    if (this.keyIds.size > MAX_KEY_ID_CONTENTS) this.resetKeyIds()
    flow.generation = this.generation
    flow.reports = NO_REPORTS
    flow.raw = undefined
    const src = this.resolver.resolve(record.srcAddr)
    const dst = this.resolver.resolve(record.dstAddr)
    if (src === undefined || dst === undefined) { this.counters.drops.badAddress++; return }
    if (!src.local && !dst.local) { this.counters.drops.notLocal++; return }
    const hasPorts = protocolHasPorts(record.protocol)
    const input: FlowInput = {
      src: { ip: src.ip, ...(src.endpoint === undefined ? {} : { endpoint: src.endpoint }), ...(hasPorts ? { port: record.srcPort } : {}) },
      dst: { ip: dst.ip, ...(dst.endpoint === undefined ? {} : { endpoint: dst.endpoint }), ...(hasPorts ? { port: record.dstPort } : {}) },
      protocol: record.protocol,
      ...(record.protocol === 1 || record.protocol === 58 ? { icmpType: record.icmpType, icmpCode: record.icmpCode } : {})
    }
    this.counters.evaluations++
    const verdicts = this.evaluator.evaluate(input)
    const service = dst.endpoint === undefined ? this.resolver.serviceFor(record.dstAddr, record.protocol, record.dstPort) : undefined
    const destPort = hasPorts ? record.dstPort : 0
    const reports: Report[] = []
    if (src.local) reports.push(this.makeReport('Src', src, dst, service, destPort, record.protocol, verdicts.enforced.src, verdicts.pending.src))
    if (dst.local) reports.push(this.makeReport('Dst', src, dst, service, destPort, record.protocol, verdicts.enforced.dst, verdicts.pending.dst))
    flow.reports = reports
    flow.raw = {
      proto: flowProtoName(record.protocol),
      sourceIp: record.srcAddr,
      destIp: record.dstAddr,
      sourcePort: hasPorts ? record.srcPort : 0,
      destPort,
      enforcedAction: verdicts.enforced.action,
      pendingAction: verdicts.pending.action,
      sourcePolicies: { enforced: verdicts.enforced.src, pending: verdicts.pending.src },
      destPolicies: { enforced: verdicts.enforced.dst, pending: verdicts.pending.dst },
      sourceName: src.name,
      sourceNamespace: src.namespace,
      sourceType: src.type,
      destName: dst.name,
      destNamespace: dst.namespace,
      destType: dst.type,
      destServiceName: service?.name ?? '',
      destServiceNamespace: service?.namespace ?? '',
      destServicePortName: service?.portName ?? '',
      destServicePort: service?.port ?? 0,
      unobservable: verdicts.unobservable
    }
  }

  /**
   * A report of one end. Its id (the open-flow-log key) comes from FlowKeyIds: equal ids ⇔ equal keys, from
   * memoized numbers instead of the whole key serialized as JSON per flow.
   */
  private makeReport (reporter: Reporter, src: FlowEnd, dst: FlowEnd, service: FlowService | undefined, destPort: number, protocol: number,
    enforced: readonly PolicyHit[], pending: readonly PolicyHit[]): Report {
    const key: FlowKey = {
      sourceName: src.name,
      sourceNamespace: src.namespace,
      sourceType: src.type,
      destName: dst.name,
      destNamespace: dst.namespace,
      destType: dst.type,
      destPort,
      destServiceName: service?.name ?? '',
      destServiceNamespace: service?.namespace ?? '',
      destServicePortName: service?.portName ?? '',
      destServicePort: service?.port ?? 0,
      proto: flowProtoName(protocol),
      reporter,
      action: endAction(enforced),
      policies: { enforced, pending }
    }
    const id = this.keyIds.id(key, src, dst)
    return { id, key, sourceLabels: src.labels, destLabels: dst.labels, log: undefined, logStart: NaN }
  }

  /** Emits (and forgets) every interval that ends at or before `ms` (Unix milliseconds), oldest first. */
  closeBefore (ms: number): FlowLog[] {
    const limit = Math.floor(ms / 1000 / this.intervalSeconds) * this.intervalSeconds
    if (limit > this.closedBeforeSeconds) this.closedBeforeSeconds = limit
    return this.emit(start => start + this.intervalSeconds <= limit)
  }

  /** Emits every open interval (shutdown, end of a capture). Later records go to the interval after them. */
  flushAll (): FlowLog[] {
    let last = this.closedBeforeSeconds
    for (const start of this.intervals.keys()) last = Math.max(last, start + this.intervalSeconds)
    this.closedBeforeSeconds = last
    return this.emit(() => true)
  }

  private emit (closes: (start: number) => boolean): FlowLog[] {
    const starts = [...this.intervals.keys()].filter(closes).sort((a, b) => a - b)
    const out: FlowLog[] = []
    for (const start of starts) {
      const bucket = this.intervals.get(start) as Map<string, OpenFlowLog>
      this.intervals.delete(start)
      this.openFlowLogs -= bucket.size
      for (const log of bucket.values()) {
        out.push({
          key: log.key,
          startTime: start,
          endTime: start + this.intervalSeconds,
          sourceLabels: log.sourceLabels,
          destLabels: log.destLabels,
          packetsIn: log.packetsIn,
          packetsOut: log.packetsOut,
          bytesIn: log.bytesIn,
          bytesOut: log.bytesOut,
          connectionsStarted: log.connectionsStarted,
          connectionsCompleted: log.connectionsCompleted,
          connectionsLive: liveSize(log)
        })
      }
    }
    this.counters.flowLogsEmitted += out.length
    return out
  }

  /** Current counters (a copy). */
  stats (): AggregatorStats {
    const c = this.counters
    return { ...c, recordsByKind: { ...c.recordsByKind }, drops: { ...c.drops }, trackedFlows: this.flows.size, openFlowLogs: this.openFlowLogs }
  }
}

// Cumulative counters: a smaller value than last time means a new flow reused the id; count it whole.
function delta (now: number, last: number): number {
  return now >= last ? now - last : now
}

/** The recent-ring entry of a record: the flow's evaluated fields and the record's counters (one literal, one shape). */
function rawFlowOf (raw: NonNullable<TrackedFlow['raw']>, record: FlowRecord): RawFlow {
  return {
    proto: raw.proto,
    sourceIp: raw.sourceIp,
    destIp: raw.destIp,
    sourcePort: raw.sourcePort,
    destPort: raw.destPort,
    packetsForward: record.packetsFwd,
    bytesForward: record.bytesFwd,
    packetsReverse: record.packetsRev,
    bytesReverse: record.bytesRev,
    firstSeenMs: record.firstSeenMs,
    lastSeenMs: record.lastSeenMs,
    enforcedAction: raw.enforcedAction,
    pendingAction: raw.pendingAction,
    sourcePolicies: raw.sourcePolicies,
    destPolicies: raw.destPolicies,
    sourceName: raw.sourceName,
    sourceNamespace: raw.sourceNamespace,
    sourceType: raw.sourceType,
    destName: raw.destName,
    destNamespace: raw.destNamespace,
    destType: raw.destType,
    destServiceName: raw.destServiceName,
    destServiceNamespace: raw.destServiceNamespace,
    destServicePortName: raw.destServicePortName,
    destServicePort: raw.destServicePort,
    endReason: record.kind === 'evicted' ? 'evicted' : record.kind === 'end' ? (record.endReason === 'none' ? 'flush' : record.endReason) : '',
    unobservable: raw.unobservable
  }
}

/**
 * Short ids for flow keys (the open-flow-log map's keys): ends, services and policy traces are numbered by
 * content and the id is those numbers with the port, protocol, reporter and action — equal ids ⇔ equal keys,
 * without building (and hashing) a text of the whole key per flow. Numbering is memoized per object in
 * WeakMaps (the resolver and the engine hand the same end, trace and hit objects out again from their caches).
 * The content tables grow with distinct ends, hits and traces only; the aggregator starts a fresh instance on
 * policy changes and when `size` passes its bound, re-keying the open flow logs (see FlowLogAggregator.resetKeyIds).
 */
class FlowKeyIds {
  private readonly endByObject = new WeakMap<FlowEnd, number>()
  private readonly hitByObject = new WeakMap<PolicyHit, number>()
  private readonly traceByArray = new WeakMap<readonly PolicyHit[], number>()
  private readonly byText = new Map<string, number>()
  private next = 0

  /** Distinct contents numbered so far. */
  get size (): number { return this.byText.size }

  private number (text: string): number {
    let n = this.byText.get(text)
    if (n === undefined) { n = this.next++; this.byText.set(text, n) }
    return n
  }

  private endNumber (name: string, namespace: string, type: string, end: FlowEnd | undefined): number {
    let n = end === undefined ? undefined : this.endByObject.get(end)
    if (n === undefined) {
      n = this.number(`e\u0001${name}\u0001${namespace}\u0001${type}`)
      if (end !== undefined) this.endByObject.set(end, n)
    }
    return n
  }

  private hitNumber (hit: PolicyHit): number {
    let n = this.hitByObject.get(hit)
    if (n === undefined) {
      const t = hit.trigger
      n = this.number(`h\u0001${hit.kind}\u0001${hit.namespace}\u0001${hit.name}\u0001${hit.tier}\u0001${hit.action}\u0001${hit.policyIndex}\u0001${hit.ruleIndex}\u0001` +
        (t === undefined ? '-' : `${t.kind}\u0001${t.namespace}\u0001${t.name}\u0001${t.tier}`))
      this.hitByObject.set(hit, n)
    }
    return n
  }

  private traceNumber (hits: readonly PolicyHit[]): number {
    let n = this.traceByArray.get(hits)
    if (n === undefined) {
      let text = 't'
      for (let i = 0; i < hits.length; i++) text += `,${this.hitNumber(hits[i] as PolicyHit)}`
      n = this.number(text)
      this.traceByArray.set(hits, n)
    }
    return n
  }

  /** The id of `key`; `src`/`dst` are the flow ends it was built from, when known (memo only). */
  id (key: FlowKey, src?: FlowEnd, dst?: FlowEnd): string {
    const s = this.endNumber(key.sourceName, key.sourceNamespace, key.sourceType, src)
    const d = this.endNumber(key.destName, key.destNamespace, key.destType, dst)
    const service = key.destServiceName === '' && key.destServiceNamespace === '' && key.destServicePortName === '' && key.destServicePort === 0
      ? -1
      : this.number(`s\u0001${key.destServiceName}\u0001${key.destServiceNamespace}\u0001${key.destServicePortName}\u0001${key.destServicePort}`)
    return `${s},${d},${service},${key.destPort},${key.proto},${key.reporter},${key.action},${this.traceNumber(key.policies.enforced)},${this.traceNumber(key.policies.pending)}`
  }
}
