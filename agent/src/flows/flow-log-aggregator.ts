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
//  - The hot path never throws and never allocates a key per record: keys are numbered once per flow and policy
//    generation (the FlowKey object is built when a flow log is emitted), and a new flow whose ends (addresses),
//    protocol and port equal an earlier flow's takes that flow's verdicts, reports and raw-flow shape as they are,
//    without asking the policy engine (the flow-shape cache).
//  - Open flow logs are rows of typed arrays (OpenFlowLogRows) and what is kept per key is typed arrays by key id:
//    nothing per open log or key for the young-generation collector to copy.
//  - Bounded: last-seen counters by maxTrackedFlows (second-chance eviction, counted), open flow logs by
//    maxOpenFlowLogs (overflow counted), the recent ring by its capacity.
import assert from 'node:assert'
import type { EvaluatedEnds, FlowInput } from '../policy/policy-engine.js'
import { ENFORCED_DST_DENIES, ENFORCED_SRC_DENIES, type FlowVerdicts, type PolicyHit } from '../policy/policy-hit.js'
import { protocolHasPorts } from '../policy/protocol.js'
import type { FlowEnd, FlowEndResolver, FlowService } from './flow-end.js'
import { FLOW_INTERVAL_SECONDS, type FlowKey, type FlowLog, type Reporter } from './flow-log.js'
import { connectionCompleted, connectionStarted, type FlowRecord, type FlowRecordKind } from './flow-record.js'
import { flowProtoName } from './raw-flow.js'
import { IntKeyTable } from '../collections/int-key-table.js'
import { doubled } from '../collections/typed-arrays.js'
import { OpenFlowLogRows } from './open-flow-log-rows.js'
import { RecentRawFlows, type RawFlowEndReason, type RawFlowShape } from './recent-raw-flows.js'

/** Evaluates a flow in both pipelines (the PolicyEngine). */
export interface FlowEvaluator {
  /** `ends`: only the source's egress ('src'), the destination's ingress ('dst'), or both (the default). */
  evaluate: (flow: FlowInput, ends?: EvaluatedEnds) => FlowVerdicts
  /** Whether verdicts depend on the source port (some rule matches source ports); absent = false. */
  readonly readsSourcePorts?: boolean
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

/** Receives emitted flow logs (FlowLogAggregator.closeBefore/flushAll), chunk by chunk. */
export type FlowLogSink = (logs: readonly FlowLog[]) => void

/** Why records (or parts of them) were not folded into a flow log. */
export interface AggregatorDrops {
  /** Neither end is an endpoint of this node. */
  notLocal: number
  /** An address that does not parse (a decoder bug; never expected). */
  badAddress: number
  /**
   * Last-seen counters evicted to stay within maxTrackedFlows (a later record of that flow is counted whole). The
   * evicted flow is one not updated since the eviction scan last passed it (second chance, an LRU approximation
   * that costs nothing per record).
   */
  trackedFlowEvicted: number
  /** Contributions lost because maxOpenFlowLogs was reached. */
  flowLogOverflow: number
}

/** Counters of the aggregator, for metrics and GetStatus. */
export interface AggregatorStats {
  records: number
  recordsByKind: Record<FlowRecordKind, number>
  /** Flows given verdicts (once per flow and policy generation). */
  evaluations: number
  /**
   * Of those, flows whose verdicts came from the flow-shape cache — an earlier flow between the same two addresses
   * with the same protocol and destination port (and source port, ICMP type and code where the policies read
   * them). The rest were evaluated by the policy engine.
   */
  shapeCacheHits: number
  /** Flow shapes dropped because the table reached its bound. */
  shapeEvictions: number
  /** Records reported by the source end and the destination end. */
  reportedSrc: number
  reportedDst: number
  /** Records whose interval had already closed, folded into the oldest open one. */
  late: number
  flowLogsEmitted: number
  /** Times the flow-key numbering was started afresh (policy or inventory change, or too many dead keys). */
  keyNumberResets: number
  /** Times the table of flow shapes (one per distinct verdict) reached its bound and was emptied. */
  shapeTableResets: number
  trackedFlows: number
  openFlowLogs: number
  drops: AggregatorDrops
}

/** One end's report of a flow shape: what its FlowKey is made of (the key object is built when a log is emitted). */
interface Report {
  /** The key's id (FlowKeyIds): equal ids ⇔ equal keys — in numbering `epoch`; renumbered on use after. */
  keyId: number
  epoch: number
  readonly reporter: Reporter
  readonly shape: FlowShape
  readonly enforced: readonly PolicyHit[]
  readonly pending: readonly PolicyHit[]
  /** The reporting end's enforced action (from FlowVerdicts.endDenies: its trace is not read for it). */
  readonly action: 'Allow' | 'Deny'
  /**
   * The open flow log this report last folded into and its interval's start: the next record of the flow in
   * the same interval goes straight there instead of looking the (long) id up. Valid while `logStart` is that
   * interval's start — an emitted interval's start never comes back (closedBeforeSeconds only grows).
   */
  log: number
  logStart: number
}

interface TrackedFlow {
  /** -1 while a slot's object holds no flow. */
  flowId: number
  packetsFwd: number
  bytesFwd: number
  packetsRev: number
  bytesRev: number
  started: boolean
  completed: boolean
  /** Updated since the eviction scan last passed this flow. */
  touched: boolean
  generation: number
  /** `raw.reports` (NO_REPORTS without a shape), held here too so a record reaches its reports in one hop. */
  reports: readonly Report[]
  /** The evaluated description shared with other flows of the same shape; undefined when not reported. */
  raw: RawFlowShape | undefined
  /** 0 for protocols without ports. */
  sourcePort: number
  /** The open logs this flow's reports folded into last, valid while `logStart` is the record's interval. */
  logStart: number
  log0: number
  log1: number
  /**
   * The logs that count this flow live (its first record there did not end it; its end will uncount it), valid
   * while `liveStart` is their interval's start: a log counts its live flows, instead of holding their ids.
   */
  liveStart: number
  liveLog0: number
  liveLog1: number
}

/**
 * What every flow between the same two ends, with the same protocol and destination port (and source port / ICMP
 * type and code where verdicts depend on them), shares: its verdicts, its reports (so their open flow logs too)
 * and its raw-flow shape. Remembered per pair of ends (FlowEnd.index), for one policy generation.
 */
class FlowShape implements RawFlowShape {
  reports: readonly Report[] = NO_REPORTS

  constructor (
    readonly srcAddr: string,
    readonly dstAddr: string,
    readonly protocol: number,
    readonly destPort: number,
    /** The source port when the policies read source ports, else -1. */
    readonly sourcePortKey: number,
    /** type × 256 + code for ICMP, else -1. */
    readonly icmpKey: number,
    /** The first flow's source port (ports-bearing protocols), to evaluate the shape again. */
    readonly sourcePort: number,
    readonly src: FlowEnd,
    readonly dst: FlowEnd,
    readonly service: FlowService | undefined,
    /** The local end(s)' verdicts (what the reports are made of); both ends' once completed. */
    private evaluated: FlowVerdicts,
    /**
     * Evaluates both ends when only the local end was (a node's flows with a remote peer): the peer's verdict is
     * wanted only when someone reads the raw flow, so it is computed then. Undefined once complete.
     */
    private completer: ((shape: FlowShape) => FlowVerdicts) | undefined
  ) {}

  /** Both ends' verdicts (evaluated now if only the local end was). */
  get verdicts (): FlowVerdicts {
    if (this.completer !== undefined) {
      this.evaluated = this.completer(this)
      this.completer = undefined
    }
    return this.evaluated
  }
}


/**
 * The flow logs of one open interval. A log is found through its key's id (FlowKeyIds.keyLog), which holds the log
 * of the interval the key was last used in; a key used in a later interval too leaves its log here, in
 * `displaced` (only keys alive across an interval boundary: most keys never get there, so most logs cost no map).
 */
interface OpenInterval {
  readonly start: number
  /** Rows of its logs (OpenFlowLogRows). */
  readonly logs: number[]
  displaced: Map<number, number> | undefined
}

const NO_REPORTS: readonly Report[] = Object.freeze([])
/** No flow log (rows are from 0). */
const NO_LOG = -1
/** Bound of the distinct ends, hits and traces FlowKeyIds numbers before it starts over. */
const MAX_KEY_ID_CONTENTS = 1 << 20
/** FlowEnd indexes FlowKeyIds memoizes end numbers for (a resolver's indexes stay below its cache bound). */
const MAX_END_INDEX = 1 << 20
/** Flow logs per sink call when intervals close. */
const EMIT_CHUNK = 4096
/** Bound of the flow-shape table (entries). */
const MAX_SHAPES = 1 << 18
/** Key numbers kept across interval closes regardless of how few flow logs are open. */
const MIN_KEYS_BEFORE_RESET = 1 << 16

function newTrackedFlow (): TrackedFlow {
  return { flowId: -1, packetsFwd: 0, bytesFwd: 0, packetsRev: 0, bytesRev: 0, started: false, completed: false, touched: false, generation: -1, reports: NO_REPORTS, raw: undefined, sourcePort: 0, logStart: NaN, log0: NO_LOG, log1: NO_LOG, liveStart: NaN, liveLog0: NO_LOG, liveLog1: NO_LOG }
}

function resetTrackedFlow (flow: TrackedFlow, flowId: number): void {
  flow.flowId = flowId
  flow.packetsFwd = 0
  flow.bytesFwd = 0
  flow.packetsRev = 0
  flow.bytesRev = 0
  flow.started = false
  flow.completed = false
  flow.touched = false
  flow.generation = -1
  flow.reports = NO_REPORTS
  flow.raw = undefined
  flow.sourcePort = 0
  flow.logStart = NaN
  flow.log0 = NO_LOG
  flow.log1 = NO_LOG
  flow.liveStart = NaN
  flow.liveLog0 = NO_LOG
  flow.liveLog1 = NO_LOG
}

/** Whether `log` (of the interval starting at `start`) counts the flow live. */
function countsLive (flow: TrackedFlow, start: number, log: number): boolean {
  return flow.liveStart === start && (flow.liveLog0 === log || flow.liveLog1 === log)
}

/** Flow records in, flow logs out. */
export class FlowLogAggregator {
  readonly intervalSeconds: number
  private readonly maxTrackedFlows: number
  private readonly maxOpenFlowLogs: number
  /** Tracked flows of records without a slot (or past the bound), by flow id. */
  private readonly flows = new Map<number, TrackedFlow>()
  /** Tracked flows by their source's slot (FlowRecord.slot; at most maxTrackedFlows, the source's table's bound). */
  private readonly bySlot: Array<TrackedFlow | undefined> = []
  private slottedFlows = 0
  private readonly intervals = new Map<number, OpenInterval>()
  private readonly logRows = new OpenFlowLogRows<Report>()
  /** The interval the last record went to (consecutive records nearly always share it). */
  private lastStart = NaN
  private lastInterval: OpenInterval | undefined
  private openFlowLogs = 0
  /** Intervals starting before this (Unix seconds) have been emitted. */
  private closedBeforeSeconds = -Infinity
  private generation = 0
  /** Numbering epoch of keyIds (reports of an older epoch are renumbered on use). */
  private keyEpoch = 0
  private keyIds = new FlowKeyIds()
  /**
   * Flow shapes by (source end index, destination end index; protocol, port; source-port or ICMP key): the cache
   * in front of the policy engine (the engine's own whole-flow cache keyed by addresses cost two large-table
   * lookups more per new flow), in one typed-array hash table. Emptied on a policy change and at its bound.
   */
  private readonly shapes = new IntKeyTable<FlowShape>()
  private readonly input: FlowInput = { src: { ip: undefined, endpoint: undefined, port: undefined }, dst: { ip: undefined, endpoint: undefined, port: undefined }, protocol: 0, icmpType: undefined, icmpCode: undefined }
  /** Recent raw flows (one entry per record, latest counters). */
  readonly recent: RecentRawFlows | undefined
  private readonly counters: Omit<AggregatorStats, 'trackedFlows' | 'openFlowLogs'> = {
    records: 0,
    recordsByKind: { start: 0, update: 0, end: 0, evicted: 0 },
    evaluations: 0,
    shapeCacheHits: 0,
    shapeEvictions: 0,
    reportedSrc: 0,
    reportedDst: 0,
    late: 0,
    flowLogsEmitted: 0,
    keyNumberResets: 0,
    shapeTableResets: 0,
    drops: { notLocal: 0, badAddress: 0, trackedFlowEvicted: 0, flowLogOverflow: 0 }
  }

  constructor (private evaluator: FlowEvaluator, private resolver: FlowEndResolver, options: FlowLogAggregatorOptions = {}) {
    this.intervalSeconds = options.intervalSeconds ?? FLOW_INTERVAL_SECONDS
    assert(Number.isInteger(this.intervalSeconds) && this.intervalSeconds > 0 && this.intervalSeconds % FLOW_INTERVAL_SECONDS === 0,
      `intervalSeconds must be a positive multiple of ${FLOW_INTERVAL_SECONDS}`)
    this.maxTrackedFlows = options.maxTrackedFlows ?? 262144
    this.maxOpenFlowLogs = options.maxOpenFlowLogs ?? 1 << 20
    const recent = options.recentFlows ?? 4096
    this.recent = recent > 0 ? new RecentRawFlows(recent) : undefined
  }

  /** Both ends' verdicts of a shape evaluated for its local end only (the evaluator in force now). */
  private readonly completeShape = (shape: FlowShape): FlowVerdicts => {
    const hasPorts = protocolHasPorts(shape.protocol)
    const icmp = shape.icmpKey >= 0
    return this.evaluator.evaluate({
      src: { ip: shape.src.ip, endpoint: shape.src.endpoint, port: hasPorts ? shape.sourcePort : undefined },
      dst: { ip: shape.dst.ip, endpoint: shape.dst.endpoint, port: hasPorts ? shape.destPort : undefined },
      protocol: shape.protocol,
      icmpType: icmp ? shape.icmpKey >> 8 : undefined,
      icmpCode: icmp ? shape.icmpKey & 255 : undefined
    })
  }

  /**
   * Call before the policies or inventory the evaluator reads change: raw flows still in the recent ring get both
   * ends' verdicts of the set they were seen under (their peer's verdict was not computed yet).
   */
  beforePipelineChange (): void {
    this.recent?.forEachShape(shape => { void shape.verdicts })
  }

  /**
   * Policies or inventory changed: flows are re-resolved and re-evaluated on their next record. Raw flows still
   * waiting for their peer's verdict get it from the evaluator they were seen with, if that is another object
   * (an evaluator changed in place must be completed for before the change: beforePipelineChange).
   */
  setPipeline (evaluator: FlowEvaluator, resolver: FlowEndResolver): void {
    if (evaluator !== this.evaluator) this.beforePipelineChange()
    this.evaluator = evaluator
    this.resolver = resolver
    this.shapes.clear()
    this.generation++
    this.resetKeyIds(true)
  }

  /**
   * Starts the key numbering afresh: the keys only (`contents` false: many keys of closed intervals are dead) or
   * the ends, hits and traces they are made of too (bounded memory; a policy change). Open flow logs are re-keyed
   * under the new numbering and a report is renumbered when next used (its id is of an older epoch), so a key
   * never gets two open flow logs in one interval. Shapes and flows stay as they are: their verdicts have not
   * changed, only the numbers.
   */
  private resetKeyIds (contents: boolean): void {
    if (contents) this.keyIds = new FlowKeyIds()
    else this.keyIds.forgetKeys()
    this.keyEpoch++
    this.counters.keyNumberResets++
    this.lastStart = NaN
    this.lastInterval = undefined
    // Oldest first: a key open in several intervals ends with its newest log as its keyLog, the others displaced.
    const open = [...this.intervals.values()].sort((a, b) => a.start - b.start)
    for (const interval of open) interval.displaced = undefined
    for (const interval of open) {
      for (const row of interval.logs) this.placeLog(this.keyIdOf(this.logRows.owner(row)), interval, row)
    }
  }

  /** The open flow log of a key in an interval, if it has one. */
  private findLog (keyId: number, interval: OpenInterval): number {
    const ids = this.keyIds
    if (ids.keyLogStart[keyId] === interval.start) return ids.keyLog[keyId] as number
    return interval.displaced?.get(keyId) ?? NO_LOG
  }

  /** Makes `log` the key's log (keyLog); the log it held (another open interval's) stays findable there. */
  private placeLog (keyId: number, interval: OpenInterval, log: number): void {
    const ids = this.keyIds
    const held = ids.keyLog[keyId] as number
    const heldStart = ids.keyLogStart[keyId] as number
    if (held !== NO_LOG && heldStart !== interval.start && heldStart >= this.closedBeforeSeconds) {
      const other = this.intervals.get(heldStart)
      if (other !== undefined) (other.displaced ??= new Map()).set(keyId, held)
    }
    ids.keyLog[keyId] = log
    ids.keyLogStart[keyId] = interval.start
  }

  /**
   * Makes room for one more tracked flow: the first flow in map order not updated since the scan last passed it
   * is forgotten; updated ones get a second chance at the back. Records never reorder the map (a delete and
   * re-insert per record was a large share of the per-record cost).
   */
  private evictTrackedFlow (): void {
    for (const [flowId, flow] of this.flows) {
      this.flows.delete(flowId)
      if (flow.touched) { flow.touched = false; this.flows.set(flowId, flow); continue }
      this.counters.drops.trackedFlowEvicted++
      return
    }
  }

  /** Folds one record. Never throws on bad input: it is counted instead. */
  add (record: FlowRecord): void {
    const c = this.counters
    c.records++
    // One comparison per kind instead of a property looked up by the kind's name (a keyed store per record).
    const kind = record.kind
    const byKind = c.recordsByKind
    if (kind === 'update') byKind.update++
    else if (kind === 'start') byKind.start++
    else if (kind === 'end') byKind.end++
    else byKind.evicted++
    const ended = kind === 'end' || kind === 'evicted'
    // A source with a flow table names each flow's slot in it: per-flow state is then an array element, not a
    // hash lookup by flow id (the largest single cost per record). Records without a slot go through the map.
    const slot = record.slot
    const slotted = slot > 0 && slot <= this.maxTrackedFlows
    let flow: TrackedFlow | undefined
    let isNew: boolean
    if (slotted) {
      // A slot keeps its TrackedFlow object for the flows that hold it in turn (reset, not reallocated): no
      // per-flow garbage, and the object stays where the collector promoted it.
      let held = this.bySlot[slot]
      if (held === undefined) {
        while (this.bySlot.length <= slot) this.bySlot.push(undefined)
        held = newTrackedFlow()
        this.bySlot[slot] = held
      }
      flow = held
      isNew = flow.flowId !== record.flowId
      if (isNew) {
        if (flow.flowId >= 0) {
          // The slot's previous flow ended without its end record reaching us (the tap counted the loss).
          this.slottedFlows--
          c.drops.trackedFlowEvicted++
        }
        resetTrackedFlow(flow, record.flowId)
        this.slottedFlows++
      }
      // Ended: the slot is free (its last references go when the next flow takes it; slots are bounded).
      if (ended) { flow.flowId = -1; this.slottedFlows-- }
    } else {
      flow = this.flows.get(record.flowId)
      isNew = flow === undefined
      if (flow === undefined) {
        flow = newTrackedFlow()
        flow.flowId = record.flowId
        // A flow whose only record ends it is not remembered.
        if (!ended) {
          if (this.flows.size >= this.maxTrackedFlows) this.evictTrackedFlow()
          this.flows.set(record.flowId, flow)
        }
      } else if (ended) {
        this.flows.delete(record.flowId)
      } else {
        flow.touched = true
      }
    }

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
    if (flow.raw !== undefined && this.recent !== undefined) {
      this.recent.push(flow.raw, flow.sourcePort, record.packetsFwd, record.bytesFwd, record.packetsRev, record.bytesRev, record.firstSeenMs, record.lastSeenMs, endReasonOf(record))
    }
    let start = Math.floor(record.lastSeenMs / 1000 / this.intervalSeconds) * this.intervalSeconds
    const late = start < this.closedBeforeSeconds
    if (late) start = this.closedBeforeSeconds
    // The flow's next record in the same interval goes straight to the logs its reports folded into last time
    // (most records: one map lookup for the flow, then its two logs; its reports are not even read).
    if (flow.logStart === start) {
      if (late) c.late++
      // Counted live in these logs by its first record of the interval (unless that ended it): only its end
      // changes that.
      const log0 = flow.log0
      const log1 = flow.log1
      this.fold(log0, ended && countsLive(flow, start, log0) ? -1 : 0, started, completed, dPacketsFwd, dBytesFwd, dPacketsRev, dBytesRev)
      if (log1 !== NO_LOG) this.fold(log1, ended && countsLive(flow, start, log1) ? -1 : 0, started, completed, dPacketsFwd, dBytesFwd, dPacketsRev, dBytesRev)
      if (ended) flow.liveStart = NaN
      return
    }
    const reports = flow.reports
    if (reports.length === 0) return
    if (late) c.late++
    let interval = this.lastInterval
    if (start !== this.lastStart || interval === undefined) {
      interval = this.intervals.get(start)
      if (interval === undefined) { interval = { start, logs: [], displaced: undefined }; this.intervals.set(start, interval) }
      this.lastStart = start
      this.lastInterval = interval
    }
    let complete = true
    flow.log0 = NO_LOG
    flow.log1 = NO_LOG
    for (let r = 0; r < reports.length; r++) {
      const report = reports[r] as Report
      let log = report.logStart === start ? report.log : NO_LOG
      let keyId = -1
      if (log === NO_LOG) {
        keyId = this.keyIdOf(report)
        log = this.findLog(keyId, interval)
      }
      if (log === NO_LOG) {
        if (this.openFlowLogs >= this.maxOpenFlowLogs) { c.drops.flowLogOverflow++; complete = false; continue }
        log = this.logRows.open(report, report.reporter === 'Src', report.shape.src.labels, report.shape.dst.labels)
        interval.logs.push(log)
        this.placeLog(keyId, interval, log)
        this.openFlowLogs++
        report.log = log
        report.logStart = start
      } else if (report.logStart !== start) {
        report.log = log
        report.logStart = start
        // generateName aggregation puts several pods under one name: keep the labels they share (as Felix does).
        this.logRows.intersectLabels(log, report.shape.src.labels, report.shape.dst.labels)
      }
      if (r === 0) flow.log0 = log
      else flow.log1 = log
      const counted = countsLive(flow, start, log)
      this.fold(log, ended ? (counted ? -1 : 0) : (counted ? 0 : 1), started, completed, dPacketsFwd, dBytesFwd, dPacketsRev, dBytesRev)
    }
    if (ended) flow.liveStart = NaN
    else { flow.liveStart = start; flow.liveLog0 = flow.log0; flow.liveLog1 = flow.log1 }
    // Only a flow whose every report has its log may take the shortcut (an overflow is counted per record).
    flow.logStart = complete && reports.length <= 2 ? start : NaN
  }

  /** Adds one record's share to a flow log (OpenFlowLogRows.fold), counted by reporting end. */
  private fold (log: number, liveChange: number, started: number, completed: number, dPacketsFwd: number, dBytesFwd: number, dPacketsRev: number, dBytesRev: number): void {
    if (this.logRows.fold(log, liveChange, started, completed, dPacketsFwd, dBytesFwd, dPacketsRev, dBytesRev)) this.counters.reportedSrc++
    else this.counters.reportedDst++
  }

  private evaluateFlow (record: FlowRecord, flow: TrackedFlow): void {
    if (this.keyIds.size > MAX_KEY_ID_CONTENTS) this.resetKeyIds(true)
    flow.generation = this.generation
    flow.reports = NO_REPORTS
    flow.raw = undefined
    flow.logStart = NaN
    const src = this.resolver.resolve(record.srcAddr)
    const dst = this.resolver.resolve(record.dstAddr)
    if (src === undefined || dst === undefined) { this.counters.drops.badAddress++; return }
    if (!src.local && !dst.local) { this.counters.drops.notLocal++; return }
    this.counters.evaluations++
    const protocol = record.protocol
    const hasPorts = protocolHasPorts(protocol)
    const icmp = protocol === 1 || protocol === 58
    const destPort = hasPorts ? record.dstPort : 0
    const sourcePort = hasPorts ? record.srcPort : 0
    const sourcePortKey = this.evaluator.readsSourcePorts === true ? sourcePort : -1
    const icmpKey = icmp ? record.icmpType * 256 + record.icmpCode : -1
    flow.sourcePort = sourcePort
    let shape = this.knownShape(src, dst, protocol, destPort, sourcePortKey, icmpKey)
    if (shape !== undefined) {
      this.counters.shapeCacheHits++
    } else {
      // One input object for every evaluation: the engine reads it and keeps none of it.
      const input = this.input
      input.src.ip = src.ip
      input.src.endpoint = src.endpoint
      input.src.port = hasPorts ? record.srcPort : undefined
      input.dst.ip = dst.ip
      input.dst.endpoint = dst.endpoint
      input.dst.port = hasPorts ? record.dstPort : undefined
      input.protocol = protocol
      input.icmpType = icmp ? record.icmpType : undefined
      input.icmpCode = icmp ? record.icmpCode : undefined
      // Only the local end(s): they are what this node reports; a remote peer's verdict is computed if asked for.
      const ends = src.local ? (dst.local ? 'both' : 'src') : 'dst'
      const verdicts = this.evaluator.evaluate(input, ends)
      const service = dst.endpoint === undefined ? this.resolver.serviceFor(record.dstAddr, protocol, record.dstPort) : undefined
      shape = new FlowShape(record.srcAddr, record.dstAddr, protocol, destPort, sourcePortKey, icmpKey, sourcePort, src, dst, service, verdicts,
        ends === 'both' ? undefined : this.completeShape)
      const reports: Report[] = []
      if (src.local) reports.push(this.makeReport('Src', shape, verdicts.enforced.src, verdicts.pending.src, (verdicts.endDenies & ENFORCED_SRC_DENIES) !== 0))
      if (dst.local) reports.push(this.makeReport('Dst', shape, verdicts.enforced.dst, verdicts.pending.dst, (verdicts.endDenies & ENFORCED_DST_DENIES) !== 0))
      shape.reports = reports
      this.rememberShape(shape)
    }
    flow.reports = shape.reports
    flow.raw = shape
  }

  /** The shape of an earlier flow between these two ends with the same protocol, ports and ICMP fields. */
  private knownShape (src: FlowEnd, dst: FlowEnd, protocol: number, destPort: number, sourcePortKey: number, icmpKey: number): FlowShape | undefined {
    const shape = this.shapes.get(src.index * 65536 + dst.index, protocol * 65536 + destPort, icmpKey >= 0 ? 0x40000000 + icmpKey : sourcePortKey)
    // The table's words hold protocol, port and the source-port/ICMP key exactly; the ends are compared as objects
    // too: an index names another end once the resolver has started its numbering again (and indexes past 65535
    // share packed keys).
    return shape !== undefined && shape.src === src && shape.dst === dst ? shape : undefined
  }

  private rememberShape (shape: FlowShape): void {
    if (this.shapes.size >= MAX_SHAPES) {
      this.counters.shapeEvictions += this.shapes.size
      this.counters.shapeTableResets++
      this.shapes.clear(true)
    }
    const { src, dst, protocol, destPort, sourcePortKey, icmpKey } = shape
    this.shapes.set(src.index * 65536 + dst.index, protocol * 65536 + destPort, icmpKey >= 0 ? 0x40000000 + icmpKey : sourcePortKey, shape)
  }

  /**
   * A report of one end. Its id (the open-flow-log key) comes from FlowKeyIds: equal ids ⇔ equal keys, from
   * memoized numbers instead of the whole key serialized as JSON per flow.
   */
  private makeReport (reporter: Reporter, shape: FlowShape, enforced: readonly PolicyHit[], pending: readonly PolicyHit[], denies: boolean): Report {
    const report: Report = { keyId: -1, epoch: -1, reporter, shape, enforced, pending, action: denies ? 'Deny' : 'Allow', log: NO_LOG, logStart: NaN }
    this.keyIdOf(report)
    return report
  }

  /** A report's key id in the current numbering. */
  private keyIdOf (report: Report): number {
    if (report.epoch === this.keyEpoch) return report.keyId
    const { src, dst, service } = report.shape
    const keyId = this.keyIds.id(src.name, src.namespace, src.type, dst.name, dst.namespace, dst.type, service?.name ?? '', service?.namespace ?? '',
      service?.portName ?? '', service?.port ?? 0, report.shape.destPort, flowProtoName(report.shape.protocol), report.reporter, report.action, report.enforced, report.pending, src, dst)
    report.keyId = keyId
    report.epoch = this.keyEpoch
    return keyId
  }

  /** The FlowKey a report stands for (built per emitted flow log). */
  private keyOf (report: Report): FlowKey {
    const { src, dst, service, destPort, protocol } = report.shape
    // Written out, not spread from flowEndFields: a spread on this path cost a third of the pipeline's
    // throughput (the keys' hidden class differs and every reader of flow keys became slower).
    return {
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
      reporter: report.reporter,
      action: report.action,
      policies: { enforced: report.enforced, pending: report.pending }
    }
  }

  /**
   * Emits (and forgets) every interval that ends at or before `ms` (Unix milliseconds), oldest first: returned, or
   * handed to `sink` in chunks (see emit).
   */
  closeBefore (ms: number, sink?: FlowLogSink): FlowLog[] {
    const limit = Math.floor(ms / 1000 / this.intervalSeconds) * this.intervalSeconds
    if (limit > this.closedBeforeSeconds) this.closedBeforeSeconds = limit
    return this.emit(start => start + this.intervalSeconds <= limit, sink)
  }

  /**
   * Forgets every tracked flow (their source ended): a later source numbers its flows and slots from the start
   * again, and must not meet this one's unfinished flows. Not counted as evictions — nothing more was coming.
   */
  forgetFlows (): void {
    this.flows.clear()
    this.bySlot.length = 0
    this.slottedFlows = 0
  }

  /**
   * Emits every open interval (shutdown, end of a capture), returned or handed to `sink` in chunks. Later records
   * go to the interval after them.
   */
  flushAll (sink?: FlowLogSink): FlowLog[] {
    let last = this.closedBeforeSeconds
    for (const start of this.intervals.keys()) last = Math.max(last, start + this.intervalSeconds)
    this.closedBeforeSeconds = last
    return this.emit(() => true, sink)
  }

  /**
   * The closing intervals' flow logs, oldest interval first: returned, or — given a sink — handed to it in chunks
   * of EMIT_CHUNK (and none returned). An interval holds hundreds of thousands of logs on a busy node: built all
   * into one array they outlive the young generation together (a third of all allocation is these objects), where
   * a sink that does not keep them lets each chunk die young.
   */
  private emit (closes: (start: number) => boolean, sink: FlowLogSink | undefined): FlowLog[] {
    const starts = [...this.intervals.keys()].filter(closes).sort((a, b) => a - b)
    let out: FlowLog[] = []
    let emitted = 0
    for (const start of starts) {
      const interval = this.intervals.get(start) as OpenInterval
      this.intervals.delete(start)
      if (start === this.lastStart) { this.lastStart = NaN; this.lastInterval = undefined }
      this.openFlowLogs -= interval.logs.length
      for (const row of interval.logs) {
        out.push(this.logRows.close(row, this.keyOf(this.logRows.owner(row)), start, start + this.intervalSeconds))
        if (sink !== undefined && out.length === EMIT_CHUNK) { emitted += out.length; sink(out); out = [] }
      }
    }
    emitted += out.length
    if (sink !== undefined && out.length > 0) { sink(out); out = [] }
    this.counters.flowLogsEmitted += emitted
    // Key numbers of closed intervals' flow logs are dead weight: once they outnumber the open flow logs' keys
    // well, start the numbering afresh (the open logs are re-keyed, flows re-evaluated on their next record).
    // (The ends, hits and traces they are made of stay numbered: renumbering the keys then costs a lookup each.)
    if (this.keyIds.keyCount > 2 * this.openFlowLogs + MIN_KEYS_BEFORE_RESET) this.resetKeyIds(false)
    return out
  }

  /** Current counters (a copy). */
  stats (): AggregatorStats {
    const c = this.counters
    return { ...c, recordsByKind: { ...c.recordsByKind }, drops: { ...c.drops }, trackedFlows: this.flows.size + this.slottedFlows, openFlowLogs: this.openFlowLogs }
  }
}

// Cumulative counters: a smaller value than last time means a new flow reused the id; count it whole.
function delta (now: number, last: number): number {
  return now >= last ? now - last : now
}

function endReasonOf (record: FlowRecord): RawFlowEndReason {
  return record.kind === 'evicted' ? 'evicted' : record.kind === 'end' ? (record.endReason === 'none' ? 'flush' : record.endReason) : ''
}

/** One level of the hit-numbering maps: a field's value → the next level, or (last level) → the hit's number. */
type ContentLevel = Map<string | number, ContentLevel | number>
/** Marks the trigger branch of the hit maps (no policy name contains it). */
const TRIGGER = '\u0000trigger'
const ACTION_CODES: ReadonlyMap<string, number> = new Map(['Allow', 'Deny', 'Pass', 'Log'].map((a, i) => [a, i]))

const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map([6, 17, 132, 1, 58].map(p => [flowProtoName(p), p]))

/** A trace prefix: its number and the longer prefixes by the number of their next hit. */
interface TraceNode {
  readonly id: number
  readonly next: Map<number, TraceNode>
}

/**
 * Short ids for flow keys (the open-flow-log map's keys): ends, services and policy traces are numbered by
 * content and the id is those numbers with the port, protocol, reporter and action — equal ids ⇔ equal keys,
 * without building (and hashing) a text of the whole key per flow. Numbering is memoized per end (by its index)
 * and per trace array (the resolver and the engine hand the same end and trace objects out again from their
 * caches; the engine's per-end cache hands out one array per distinct trace).
 * The content tables grow with distinct ends, hits and traces only; the aggregator starts a fresh instance on
 * policy changes and when `size` passes its bound, re-keying the open flow logs (see FlowLogAggregator.resetKeyIds).
 */
export class FlowKeyIds {
  /**
   * End numbers by FlowEnd.index, valid where `endAt` holds that very end (the resolver starts its indexes again
   * when it empties its cache, and a new resolver comes with each inventory): two array reads per end instead of
   * a WeakMap lookup, the largest cost of numbering a new pair's keys.
   */
  private readonly endAt: Array<FlowEnd | undefined> = []
  private readonly endNumberAt: number[] = []
  private readonly hitRoot: ContentLevel = new Map()
  private hitNodes = 0
  /**
   * Traces are numbered by a trie over their hits' numbers, and remembered per array: the engine hands the same
   * trace array out again for every flow its caches answer (per end and per pair).
   */
  private readonly traceByArray = new WeakMap<readonly PolicyHit[], number>()
  private readonly traceRoot: TraceNode = { id: -1, next: new Map() }
  private traceNodes = 0
  private readonly byText = new Map<string, number>()
  private next = 0

  /**
   * Whole keys (their own table: they grow with the traffic, the contents with the inventory and policies): an
   * open-addressing hash table in one typed array, KEY_WORDS words per slot — the key's seven numbers and its id
   * + 1 (0: an empty slot) — so a lookup reads one cache line instead of a map's bucket, entry and entry object.
   * Building a text of the key per new flow shape and hashing it was most of the cost of numbering it. Key ids
   * run from 0, restarted by forgetKeys.
   */
  private slots = new Int32Array(KEY_WORDS * MIN_KEY_SLOTS)
  private keys = 0
  /**
   * What the aggregator keeps per key, by id: the open flow log (row) of the interval starting at
   * `keyLogStart[id]`, the interval the key was last used in (-1 and NaN for a new key). Typed arrays, not an
   * object per key: nothing per key for the young generation to copy, and a lookup reads 12 bytes.
   */
  keyLog = new Int32Array(MIN_KEY_SLOTS)
  keyLogStart = new Float64Array(MIN_KEY_SLOTS)

  /** `hashBits` below 30 only in tests, to make key hashes collide. */
  constructor (hashBits = 30) {
    this.hashMask = 2 ** hashBits - 1
  }

  private readonly hashMask: number

  /** Distinct ends, hits, services and traces numbered so far. */
  get size (): number { return this.byText.size + this.traceNodes + this.hitNodes }

  /** Distinct keys numbered so far. */
  get keyCount (): number { return this.keys }

  /**
   * Forgets the keys, keeping the numbers of the ends, hits and traces they are made of — and the key table's
   * size: the keys come back about as many (zeroing the table costs far less than growing it again through every
   * doubling). The table's size stays bounded by the most keys held at once.
   */
  forgetKeys (): void {
    this.slots.fill(0)
    this.keys = 0
  }

  private number (text: string): number {
    let n = this.byText.get(text)
    if (n === undefined) { n = this.next++; this.byText.set(text, n) }
    return n
  }

  private endNumber (name: string, namespace: string, type: string, end: FlowEnd | undefined): number {
    // (An index past the resolver's cache bound would not come from a resolver: numbered by text, not memoized.)
    if (end === undefined || end.index > MAX_END_INDEX) return this.number(`e\u0001${name}\u0001${namespace}\u0001${type}`)
    const index = end.index
    if (this.endAt[index] === end) return this.endNumberAt[index] as number
    const n = this.number(`e\u0001${name}\u0001${namespace}\u0001${type}`)
    while (this.endAt.length <= index) { this.endAt.push(undefined); this.endNumberAt.push(-1) }
    this.endAt[index] = end
    this.endNumberAt[index] = n
    return n
  }

  /**
   * Hits are numbered by content through nested maps keyed by their fields (the names are the engine's policy-ref
   * strings, so each lookup hashes a string whose hash is cached and compares by pointer) — no text is built per
   * hit, and nothing is remembered per hit object: an engine without interned hits hands out millions of them.
   */
  private hitNumber (hit: PolicyHit): number {
    const t = hit.trigger
    const byTrigger = t === undefined
      ? this.hitRoot
      : this.level(this.level(this.level(this.level(this.hitRoot, TRIGGER), t.name), t.namespace), `${t.kind}\u0001${t.tier}`)
    const byNumbers = this.level(this.level(this.level(this.level(byTrigger, hit.name), hit.namespace), hit.tier), hit.kind)
    const numbers = (ACTION_CODES.get(hit.action) ?? 7) * 2 ** 32 + (hit.policyIndex + 1) * 65536 + (hit.ruleIndex + 1)
    let n = byNumbers.get(numbers) as number | undefined
    if (n === undefined) { n = this.next++; byNumbers.set(numbers, n); this.hitNodes++ }
    return n
  }

  private level (map: ContentLevel, part: string): ContentLevel {
    let next = map.get(part) as ContentLevel | undefined
    if (next === undefined) { next = new Map(); map.set(part, next); this.hitNodes++ }
    return next
  }

  private traceNumber (hits: readonly PolicyHit[]): number {
    const known = this.traceByArray.get(hits)
    if (known !== undefined) return known
    let node = this.traceRoot
    for (let i = 0; i < hits.length; i++) {
      const hit = this.hitNumber(hits[i] as PolicyHit)
      let child = node.next.get(hit)
      if (child === undefined) {
        child = { id: this.next++, next: new Map() }
        node.next.set(hit, child)
        this.traceNodes++
      }
      node = child
    }
    this.traceByArray.set(hits, node.id)
    return node.id
  }

  /**
   * The id of the key made of these fields (equal ids ⇔ equal keys); `src`/`dst` are the flow ends they come
   * from, when known (memo only).
   */
  id (sourceName: string, sourceNamespace: string, sourceType: string, destName: string, destNamespace: string, destType: string,
    serviceName: string, serviceNamespace: string, servicePortName: string, servicePort: number, destPort: number, proto: string,
    reporter: Reporter, action: string, enforced: readonly PolicyHit[], pending: readonly PolicyHit[], src: FlowEnd | undefined, dst: FlowEnd | undefined): number {
    const s = this.endNumber(sourceName, sourceNamespace, sourceType, src)
    const d = this.endNumber(destName, destNamespace, destType, dst)
    const service = serviceName === '' && serviceNamespace === '' && servicePortName === '' && servicePort === 0
      ? -1
      : this.number(`s\u0001${serviceName}\u0001${serviceNamespace}\u0001${servicePortName}\u0001${servicePort}`)
    // Port, reporter and action in one number; the protocol by its number (flowProtoName is one-to-one).
    const portEtc = destPort * 4 + (reporter === 'Src' ? 0 : 2) + (action === 'Allow' ? 0 : 1)
    const protocol = PROTOCOL_NUMBERS.get(proto) ?? Number(proto)
    const enforcedTrace = this.traceNumber(enforced)
    const pendingTrace = this.traceNumber(pending)
    const slots = this.slots
    const mask = slots.length / KEY_WORDS - 1
    for (let slot = this.startSlot(keyHash(s, d, service, portEtc, protocol, enforcedTrace, pendingTrace), mask); ; slot = (slot + 1) & mask) {
      const o = slot * KEY_WORDS
      const idPlusOne = slots[o + 7] as number
      if (idPlusOne === 0) {
        const id = this.keys++
        slots[o] = s; slots[o + 1] = d; slots[o + 2] = service; slots[o + 3] = portEtc
        slots[o + 4] = protocol; slots[o + 5] = enforcedTrace; slots[o + 6] = pendingTrace; slots[o + 7] = id + 1
        if (id >= this.keyLog.length) { this.keyLog = doubled(this.keyLog); this.keyLogStart = doubled(this.keyLogStart) }
        this.keyLog[id] = NO_LOG
        this.keyLogStart[id] = NaN
        // At most half full: probe sequences stay short.
        if (this.keys * 2 > mask + 1) this.growKeys()
        return id
      }
      if (slots[o] === s && slots[o + 1] === d && slots[o + 2] === service && slots[o + 3] === portEtc &&
        slots[o + 4] === protocol && slots[o + 5] === enforcedTrace && slots[o + 6] === pendingTrace) return idPlusOne - 1
    }
  }

  /** Where a key's probe starts (hashes cut to `hashBits` still spread over the table: collisions, not one cluster). */
  private startSlot (hash: number, mask: number): number {
    return (Math.imul(hash & this.hashMask, 0x9e3779b1) >>> 0) & mask
  }

  /** Doubles the key table, re-placing every key by its numbers. */
  private growKeys (): void {
    const old = this.slots
    const slots = new Int32Array(old.length * 2)
    const mask = slots.length / KEY_WORDS - 1
    for (let o = 0; o < old.length; o += KEY_WORDS) {
      if (old[o + 7] === 0) continue
      let slot = this.startSlot(keyHash(old[o] as number, old[o + 1] as number, old[o + 2] as number, old[o + 3] as number, old[o + 4] as number, old[o + 5] as number, old[o + 6] as number), mask)
      while (slots[slot * KEY_WORDS + 7] !== 0) slot = (slot + 1) & mask
      slots.set(old.subarray(o, o + KEY_WORDS), slot * KEY_WORDS)
    }
    this.slots = slots
  }
}

/** Words per slot of FlowKeyIds' key table (seven numbers and the id + 1: 32 bytes). */
const KEY_WORDS = 8
const MIN_KEY_SLOTS = 1024

function keyHash (s: number, d: number, service: number, portEtc: number, protocol: number, enforcedTrace: number, pendingTrace: number): number {
  let h = Math.imul(s ^ 0x5bd1e995, 0x01000193) ^ d
  h = Math.imul(h, 0x01000193) ^ service
  h = Math.imul(h, 0x01000193) ^ portEtc
  h = Math.imul(h, 0x01000193) ^ protocol
  h = Math.imul(h, 0x01000193) ^ enforcedTrace
  h = Math.imul(h, 0x01000193) ^ pendingTrace
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  return (h ^ (h >>> 13)) >>> 0
}
