// The flow-log aggregator's open flow logs, as rows of one typed array: a row's counters share one cache line,
// where a log object spread them over two (the fold of a record into its log is a cache miss per record, on a
// table much larger than the cache), and opening a log allocates nothing the young generation has to copy.
// A row is a number: the aggregator's references to a log (its key's entry, its report, its flows) are numbers.
import type { FlowKey, FlowLog } from './flow-log.js'

/** Doubles per row (64 bytes): the six counters, the live flow and the reporter. */
const ROW_WORDS = 8
const PACKETS_IN = 0
const PACKETS_OUT = 1
const BYTES_IN = 2
const BYTES_OUT = 3
const STARTED = 4
const COMPLETED = 5
/**
 * Flows seen in the interval that had not ended by its close: most logs only ever hold one flow, kept here as its
 * id (flow ids are not negative); NO_FLOW, or MANY_FLOWS when a Set in `liveMany` holds them.
 */
const LIVE = 6
/** 1 when the source end reports the log, else 0. */
const SOURCE_REPORTS = 7
const NO_FLOW = -1
const MANY_FLOWS = -2
const INITIAL_ROWS = 1024

/** Rows of open flow logs; `Owner` is what the aggregator builds a log's key from when it is emitted. */
export class OpenFlowLogRows<Owner> {
  private numbers = new Float64Array(ROW_WORDS * INITIAL_ROWS)
  private readonly owners: Array<Owner | undefined> = []
  private readonly sourceLabels: Array<readonly string[]> = []
  private readonly destLabels: Array<readonly string[]> = []
  private readonly liveMany = new Map<number, Set<number>>()
  /** Rows released, taken again first (so rows stay below the most logs open at once). */
  private readonly free: number[] = []
  private used = 0

  /** A new log's row, its counters zero. */
  open (owner: Owner, sourceReports: boolean, sourceLabels: readonly string[], destLabels: readonly string[]): number {
    let row = this.free.pop()
    if (row === undefined) {
      row = this.used++
      if (row * ROW_WORDS >= this.numbers.length) {
        const grown = new Float64Array(this.numbers.length * 2)
        grown.set(this.numbers)
        this.numbers = grown
      }
      this.owners.push(owner)
      this.sourceLabels.push(sourceLabels)
      this.destLabels.push(destLabels)
    } else {
      this.owners[row] = owner
      this.sourceLabels[row] = sourceLabels
      this.destLabels[row] = destLabels
    }
    const n = this.numbers
    const o = row * ROW_WORDS
    n.fill(0, o, o + ROW_WORDS)
    n[o + LIVE] = NO_FLOW
    n[o + SOURCE_REPORTS] = sourceReports ? 1 : 0
    return row
  }

  /** What the row's key is built from. */
  owner (row: number): Owner {
    return this.owners[row] as Owner
  }

  /** Whether the source end reports the log (else the destination). */
  sourceReports (row: number): boolean {
    return this.numbers[row * ROW_WORDS + SOURCE_REPORTS] === 1
  }

  /**
   * Adds one record's share; in/out are seen from the reporting end (the source sends forward). `firstInLog`: the
   * flow's first record in this log, which counts it live unless it ended. Returns whether the source reports.
   */
  fold (row: number, flowId: number, ended: boolean, firstInLog: boolean, started: number, completed: number,
    packetsFwd: number, bytesFwd: number, packetsRev: number, bytesRev: number): boolean {
    const n = this.numbers
    const o = row * ROW_WORDS
    const src = n[o + SOURCE_REPORTS] === 1
    // Forward is out of the source and into the destination.
    const outPackets = src ? packetsFwd : packetsRev
    const outBytes = src ? bytesFwd : bytesRev
    const inPackets = src ? packetsRev : packetsFwd
    const inBytes = src ? bytesRev : bytesFwd
    n[o + PACKETS_IN] = (n[o + PACKETS_IN] as number) + inPackets
    n[o + PACKETS_OUT] = (n[o + PACKETS_OUT] as number) + outPackets
    n[o + BYTES_IN] = (n[o + BYTES_IN] as number) + inBytes
    n[o + BYTES_OUT] = (n[o + BYTES_OUT] as number) + outBytes
    n[o + STARTED] = (n[o + STARTED] as number) + started
    n[o + COMPLETED] = (n[o + COMPLETED] as number) + completed
    if (ended) this.liveDelete(o, row, flowId)
    else if (firstInLog) this.liveAdd(o, row, flowId)
    return src
  }

  private liveAdd (o: number, row: number, flowId: number): void {
    const n = this.numbers
    const one = n[o + LIVE] as number
    if (one === MANY_FLOWS) (this.liveMany.get(row) as Set<number>).add(flowId)
    else if (one === NO_FLOW || one === flowId) n[o + LIVE] = flowId
    else { this.liveMany.set(row, new Set([one, flowId])); n[o + LIVE] = MANY_FLOWS }
  }

  private liveDelete (o: number, row: number, flowId: number): void {
    const n = this.numbers
    const one = n[o + LIVE] as number
    if (one === MANY_FLOWS) (this.liveMany.get(row) as Set<number>).delete(flowId)
    else if (one === flowId) n[o + LIVE] = NO_FLOW
  }

  /** Keeps the labels the row's ends share with another pod under the same name (as Felix does). */
  intersectLabels (row: number, sourceLabels: readonly string[], destLabels: readonly string[]): void {
    this.sourceLabels[row] = intersectSorted(this.sourceLabels[row] as readonly string[], sourceLabels)
    this.destLabels[row] = intersectSorted(this.destLabels[row] as readonly string[], destLabels)
  }

  /** The row as a flow log of the interval [start, end), and the row released. */
  close (row: number, key: FlowKey, startTime: number, endTime: number): FlowLog {
    const n = this.numbers
    const o = row * ROW_WORDS
    const one = n[o + LIVE] as number
    let live = one === NO_FLOW ? 0 : 1
    if (one === MANY_FLOWS) { live = (this.liveMany.get(row) as Set<number>).size; this.liveMany.delete(row) }
    const log: FlowLog = {
      key,
      startTime,
      endTime,
      sourceLabels: this.sourceLabels[row] as readonly string[],
      destLabels: this.destLabels[row] as readonly string[],
      packetsIn: n[o + PACKETS_IN] as number,
      packetsOut: n[o + PACKETS_OUT] as number,
      bytesIn: n[o + BYTES_IN] as number,
      bytesOut: n[o + BYTES_OUT] as number,
      connectionsStarted: n[o + STARTED] as number,
      connectionsCompleted: n[o + COMPLETED] as number,
      connectionsLive: live
    }
    this.owners[row] = undefined
    this.free.push(row)
    return log
  }
}

function intersectSorted (a: readonly string[], b: readonly string[]): readonly string[] {
  if (a === b) return a
  const other = new Set(b)
  return a.filter(x => other.has(x))
}
