// TapSource over the native addon: the worker thread fills a queue of record batches; this side is signalled
// once per batch (at most), reads records into one reusable buffer, and hands decoded batches to the iterator.
import { TapError } from '../errors.js'
import type { FlowRecord } from '../flows/flow-record.js'
import { loadNativeAddon, type NativeTap } from './native-addon.js'
import { allocateBatchBuffer, RecordDecoder } from './record-layout.js'
import type { FlowRecordBatch, TapSource, TapStats } from './tap-source.js'
import { parseTapSourceSpec, validateTapSourceOptions, type TapSourceOptions } from './tap-source-spec.js'

const DEFAULT_READ_RECORDS = 4096

/** Turns the addon's flat dotted counters ("records.start") into the nested TapStats shape. */
export function nestStats (flat: Record<string, number | string>): TapStats {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(flat)) {
    const dot = key.indexOf('.')
    if (dot < 0) { out[key] = value; continue }
    const group = key.slice(0, dot)
    const inner = (out[group] ??= {}) as Record<string, number | string>
    inner[key.slice(dot + 1)] = value
  }
  return out as unknown as TapStats
}

class DecodedBatch implements FlowRecordBatch {
  constructor (private readonly decoder: RecordDecoder, readonly count: number) {}
  record (i: number): FlowRecord {
    if (i < 0 || i >= this.count) throw new RangeError(`record ${i} outside batch of ${this.count}`)
    return this.decoder.record(i)
  }

  recordInto (i: number, into: FlowRecord): FlowRecord {
    if (i < 0 || i >= this.count) throw new RangeError(`record ${i} outside batch of ${this.count}`)
    return this.decoder.recordInto(i, into)
  }

  records (): FlowRecord[] {
    const out = new Array<FlowRecord>(this.count)
    for (let i = 0; i < this.count; i++) out[i] = this.decoder.record(i)
    return out
  }
}

/** A TapSource backed by one native Tap. */
export class NativeTapSource implements TapSource {
  readonly description: string
  readonly fallbackReason?: Error
  private readonly tap: NativeTap
  private readonly buffer: Uint8Array
  private readonly decoder: RecordDecoder
  private started = false
  private closed = false
  private ready = false
  private wake: (() => void) | undefined

  constructor (description: string, options: TapSourceOptions = {}, fallbackReason?: Error) {
    this.description = description
    if (fallbackReason !== undefined) this.fallbackReason = fallbackReason
    const spec = parseTapSourceSpec(description)
    validateTapSourceOptions(options, spec.kind)
    const addon = loadNativeAddon()
    const { readRecords, fallback: _fallback, ...nativeOptions } = options
    this.tap = new addon.Tap(spec.kind, { ...nativeOptions, ...spec })
    this.buffer = allocateBatchBuffer(readRecords ?? DEFAULT_READ_RECORDS)
    this.decoder = new RecordDecoder(this.buffer)
  }

  start (): void {
    if (this.started || this.closed) return
    this.started = true
    this.tap.start(() => {
      const wake = this.wake
      if (wake !== undefined) { this.wake = undefined; wake() } else this.ready = true
    })
  }

  async * batches (): AsyncIterableIterator<FlowRecordBatch> {
    this.start()
    try {
      for (;;) {
        const n = this.tap.read(this.buffer)
        if (n > 0) {
          yield new DecodedBatch(this.decoder, this.decoder.count())
          continue
        }
        const status = this.tap.status()
        if (status.done) {
          if (status.error !== undefined) throw status.error
          return
        }
        if (this.closed) return
        if (this.ready) { this.ready = false; continue }
        await new Promise<void>(resolve => { this.wake = resolve })
      }
    } finally {
      this.close()
    }
  }

  [Symbol.asyncIterator] (): AsyncIterator<FlowRecordBatch> {
    return this.batches()
  }

  stats (): TapStats {
    return nestStats(this.tap.stats())
  }

  interfaces (): string[] {
    return this.tap.interfaces()
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.tap.close()
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/** Errors that mean "this kernel or these privileges do not allow eBPF", after which `fallback: 'pcap'` applies. */
const EBPF_REFUSED = new Set(['ERR_EBPF_UNSUPPORTED', 'ERR_EBPF_PERMISSION', 'ERR_EBPF_LOCKDOWN'])

/** Options of an `ebpf:` source that a `pcap:` source on the same interfaces takes too. */
const PCAP_KEEPS = ['idleTimeoutMs', 'activeTimeoutMs', 'closeLingerMs', 'maxFlows', 'emitStart', 'batchRecords', 'readRecords', 'rescanMs'] as const

/**
 * Opens a tap source from its string form (`pcap:…`, `ebpf:…`, `pcap-file:…`, `synthetic:…`). An `ebpf:` source
 * with `fallback: 'pcap'` opens `pcap:` on the same interfaces (and host interfaces) when the kernel or the
 * privileges refuse eBPF; the source's `fallbackReason` then says why.
 */
export function openTapSource (description: string, options: TapSourceOptions = {}): TapSource {
  try {
    return new NativeTapSource(description, options)
  } catch (e) {
    if (options.fallback !== 'pcap' || !(e instanceof TapError) || !EBPF_REFUSED.has(e.code)) throw e
    const spec = parseTapSourceSpec(description)
    if (spec.kind !== 'ebpf') throw e
    const pcapOptions: TapSourceOptions = {}
    for (const key of PCAP_KEEPS) {
      if (options[key] !== undefined) (pcapOptions as Record<string, unknown>)[key] = options[key]
    }
    const interfaces = [...spec.interfaces, ...(options.hostInterfaces ?? [])]
    return new NativeTapSource(`pcap:${interfaces.join(',')}`, pcapOptions, e)
  }
}
