// The flow-log aggregator's open flow logs, as rows of one typed array: a row's counters share one cache line,
// where a log object spread them over two (the fold of a record into its log is a cache miss per record, on a
// table much larger than the cache), and opening a log allocates nothing the young generation has to copy.
// A row is a number: the aggregator's references to a log (its key's entry, its report, its flows) are numbers.
import { doubled } from '../collections/typed-arrays.js'
import { sharedLabels, type FlowKey, type FlowLog } from './flow-log.js'

/** Doubles per row (64 bytes): the six counters, the live flows and the reporter. */
const ROW_WORDS = 8
const PACKETS_IN = 0
const PACKETS_OUT = 1
const BYTES_IN = 2
const BYTES_OUT = 3
const STARTED = 4
const COMPLETED = 5
/**
 * Flows seen in the interval that had not ended by its close: counted up by a flow's first record in the log
 * unless it ends the flow, down by the flow's end (the aggregator knows which flows a log counts).
 */
const LIVE = 6
/** 1 when the source end reports the log, else 0. */
const SOURCE_REPORTS = 7
const INITIAL_ROWS = 1024

/** Rows of open flow logs; `Owner` is what the aggregator builds a log's key from when it is emitted. */
export class OpenFlowLogRows<Owner> {
  private numbers = new Float64Array(ROW_WORDS * INITIAL_ROWS)
  private readonly owners: Array<Owner | undefined> = []
  private readonly sourceLabels: Array<readonly string[]> = []
  private readonly destLabels: Array<readonly string[]> = []
  /** Rows released, taken again first (so rows stay below the most logs open at once). */
  private readonly free: number[] = []
  private used = 0

  /** A new log's row, its counters zero. */
  open (owner: Owner, sourceReports: boolean, sourceLabels: readonly string[], destLabels: readonly string[]): number {
    let row = this.free.pop()
    if (row === undefined) {
      row = this.used++
      if (row * ROW_WORDS >= this.numbers.length) this.numbers = doubled(this.numbers)
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
    n[o + SOURCE_REPORTS] = sourceReports ? 1 : 0
    return row
  }

  /** What the row's key is built from. */
  owner (row: number): Owner {
    return this.owners[row] as Owner
  }

  /**
   * Adds one record's share; in/out are seen from the reporting end (the source sends forward). `liveChange`: +1
   * for a flow's first record in the log that does not end it, -1 for the end of a flow the log counts, else 0.
   * Returns whether the source reports.
   */
  fold (row: number, liveChange: number, started: number, completed: number,
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
    n[o + LIVE] = (n[o + LIVE] as number) + liveChange
    return src
  }

  /** Keeps the labels the row's ends share with another pod under the same name (as Felix does). */
  intersectLabels (row: number, sourceLabels: readonly string[], destLabels: readonly string[]): void {
    this.sourceLabels[row] = sharedLabels(this.sourceLabels[row] as readonly string[], sourceLabels)
    this.destLabels[row] = sharedLabels(this.destLabels[row] as readonly string[], destLabels)
  }

  /** The row as a flow log of the interval [start, end), and the row released. */
  close (row: number, key: FlowKey, startTime: number, endTime: number): FlowLog {
    const n = this.numbers
    const o = row * ROW_WORDS
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
      connectionsLive: n[o + LIVE] as number
    }
    this.owners[row] = undefined
    this.free.push(row)
    return log
  }
}
