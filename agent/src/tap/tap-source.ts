// The one interface every tap source implements, and the shapes it hands out.
import type { FlowRecord } from '../flows/flow-record.js'

/** A batch of records as delivered by the native side. Valid only until the iterator is advanced again. */
export interface FlowRecordBatch {
  /** Number of records in the batch. */
  readonly count: number
  /** Decodes record `i` (0 ≤ i < count) into a new object. */
  record (i: number): FlowRecord
  /** Decodes record `i` into `into`, overwriting every field (no allocation); optional for simple sources. */
  recordInto?: (i: number, into: FlowRecord) => FlowRecord
  /** Decodes every record of the batch. */
  records (): FlowRecord[]
}

/** Counters of a source; every drop has a counter (see native/README.md for their meaning). */
export interface TapStats {
  packets: number
  parsed: number
  notIp: number
  malformed: number
  malformedByReason: Record<string, number>
  fragments: number
  fragmentsAttributed: number
  fragmentsUnattributed: number
  flowsCreated: number
  flowsActive: number
  connectionsStarted: number
  connectionsCompleted: number
  records: { start: number, update: number, end: number, evicted: number }
  evictions: number
  /** Records dropped because TypeScript did not drain the queue fast enough (live capture only). */
  ringOverflowRecords: number
  recordsDelivered: number
  /** Live capture: libpcap's counters summed over interfaces (`dropped` = kernel drops). */
  kernel?: { received: number, dropped: number, interfaceDropped: number }
  interfaces?: { open: number, opened: number, lost: number, openFailures: number }
  file?: { packetsRead: number, linkType: number, memoryMapped: number }
  synthetic?: { generated: number, flows: number, endpoints: number }
  /** eBPF: lost ring-buffer events, flows the full map could not take, sweeps of the kernel flow map. */
  ebpf?: {
    ringbufLost: number
    mapFull: number
    mapEntries: number
    mapCapacity: number
    startsRecovered: number
    sweeps: number
    lastSweepMs: number
  }
  /** eBPF: what was left by runs that died without detaching, and removed at start. */
  cleanup?: { staleRuns: number, filtersRemoved: number, qdiscsRemoved: number }
  /**
   * eBPF: how the program is attached (`tcx` links, seen with `bpftool link`, or `clsact` filters), and with
   * clsact the filter handle and priority of this tap (`tc filter show dev X ingress`; 0 with tcx).
   */
  attach?: { mode: 'tcx' | 'clsact', handle: number, priority: number }
}

/** A source of flow records: live capture, a capture file, or the synthetic generator. */
export interface TapSource extends AsyncIterable<FlowRecordBatch> {
  /** The source string it was opened with, e.g. `pcap:veth*`. */
  readonly description: string
  /** When an `ebpf:` source fell back to `pcap:` (option `fallback: 'pcap'`): why eBPF was refused. */
  readonly fallbackReason?: Error
  /** Starts capturing (idempotent; iterating starts it too). */
  start (): void
  /** Batches until the source ends (files, synthetic with a limit) or is closed; throws the error that ended it. */
  batches (): AsyncIterableIterator<FlowRecordBatch>
  /** Current counters. */
  stats (): TapStats
  /** Interface names by record `nameId` (live capture). */
  interfaces (): string[]
  /** Stops capturing and releases native resources; idempotent. */
  close (): void
}
