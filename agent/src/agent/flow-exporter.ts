// Streams flow logs to the aggregator over goldmane.FlowCollector/Connect (the node's name and query address
// travel as call metadata), one FlowUpdate per flow log; each FlowReceipt acknowledges the oldest update in
// flight. On any stream end it reconnects with capped exponential backoff and full jitter and resends what was
// not acknowledged; when the aggregator's `x-shadowflow-instance` differs from the last one seen, it resends
// everything still buffered (see export-buffer.ts). Flushing on shutdown waits for receipts up to a deadline.
import * as grpc from '@grpc/grpc-js'
import type { FlowLog } from '../flows/flow-log.js'
import { flowLogToWire } from '../grpc/goldmane-mapping.js'
import { createGrpcClient } from '../grpc/grpc-client.js'
import type { FlowCollectorClient, LoadedProtos } from '../grpc/load-protos.js'
import type { WireFlowReceipt, WireFlowUpdate } from '../grpc/wire-types.js'
import type { Logger } from '../telemetry/logger.js'
import type { ExporterMetricStats } from '../telemetry/agent-metrics.js'
import { ExportBuffer } from './export-buffer.js'

/** Call metadata keys of the Connect stream. */
export const NODE_METADATA_KEY = 'x-shadowflow-node'
export const QUERY_ADDRESS_METADATA_KEY = 'x-shadowflow-query-address'
export const INSTANCE_METADATA_KEY = 'x-shadowflow-instance'

export type ExporterState = 'connecting' | 'connected' | 'backoff' | 'stopped'

export interface FlowExporterOptions {
  protos: LoadedProtos
  /** `host:port` of the aggregator. */
  address: string
  credentials: grpc.ChannelCredentials
  nodeName: string
  /** The query service address to advertise ('' when there is none). */
  queryAddress: () => string
  maxBufferBytes: number
  maxBufferAgeMs: number
  logger: Logger
  /** First reconnection delay and its cap (full jitter below the capped exponential). */
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** How long to wait for the server's initial metadata before sending anyway. */
  metadataWaitMs?: number
  /** Clock (tests). */
  now?: () => number
}

/** The status GetStatus and /readyz report. */
export interface ExporterStatusSnapshot extends ExporterMetricStats {
  state: ExporterState
  address: string
  lastAckTimeMs: number
  instance: string | undefined
}

/** The goldmane.FlowCollector client side of the agent. */
export class FlowExporter {
  private readonly buffer: ExportBuffer
  private readonly client: FlowCollectorClient
  private call: grpc.ClientDuplexStream<WireFlowUpdate, WireFlowReceipt> | undefined
  private state: ExporterState = 'connecting'
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | undefined
  private pruneTimer: NodeJS.Timeout | undefined
  private instance: string | undefined
  private streamReady = false
  private writing = false
  private stopped = false
  private sent = 0
  private resent = 0
  private reconnects = 0
  private lastAckTimeMs = 0
  private readonly waiters = new Set<() => void>()
  private readonly now: () => number
  private readonly log: Logger

  constructor (private readonly options: FlowExporterOptions) {
    this.now = options.now ?? Date.now
    this.log = options.logger
    // Size bound by the JSON form: a stable, cheap proxy for the encoded size (same order of magnitude).
    this.buffer = new ExportBuffer({ maxBytes: options.maxBufferBytes, maxAgeMs: options.maxBufferAgeMs }, log => JSON.stringify(log).length)
    // The channel's own reconnection backoff stays short: the exporter's backoff (with jitter) paces retries.
    this.client = createGrpcClient(options.protos.goldmane.FlowCollector, options.address, options.credentials, { maxReconnectBackoffMs: 1000 })
  }

  /** Opens the stream (and keeps it open until stop). */
  start (): void {
    this.pruneTimer = setInterval(() => { this.buffer.prune(this.now()); this.notify() }, 1000)
    this.pruneTimer.unref()
    this.connect()
  }

  /** Queues flow logs and writes them when the stream is open. */
  enqueue (logs: readonly FlowLog[]): void {
    if (logs.length === 0) return
    this.buffer.push(logs, this.now())
    this.pump()
  }

  private connect (): void {
    if (this.stopped) return
    this.state = 'connecting'
    this.streamReady = false
    const metadata = new grpc.Metadata()
    metadata.set(NODE_METADATA_KEY, this.options.nodeName)
    const query = this.options.queryAddress()
    if (query !== '') metadata.set(QUERY_ADDRESS_METADATA_KEY, query)
    const call = this.client.Connect(metadata)
    this.call = call
    let sawMetadata = false
    const waitTimer = setTimeout(() => {
      // A server that sends its metadata only with the first receipt: start sending what was not acknowledged.
      if (this.call === call && !this.streamReady) this.beginStream(false)
    }, this.options.metadataWaitMs ?? 1000)
    waitTimer.unref()
    call.on('metadata', (md: grpc.Metadata) => {
      if (this.call !== call || sawMetadata) return
      sawMetadata = true
      clearTimeout(waitTimer)
      const value = md.get(INSTANCE_METADATA_KEY)[0]
      const instance = value === undefined ? undefined : String(value)
      const restarted = instance !== undefined && this.instance !== undefined && instance !== this.instance
      if (instance !== undefined) this.instance = instance
      if (restarted) this.log.warn({ instance }, 'aggregator restarted: resending every buffered flow log')
      // Metadata after sending began (the server answered late): a new instance still gets everything again.
      if (this.streamReady) { if (restarted) { this.buffer.rewind(true); this.pump() } return }
      this.beginStream(restarted)
    })
    call.on('data', () => {
      if (this.call !== call) return
      if (this.buffer.acknowledge()) this.lastAckTimeMs = this.now()
      this.attempt = 0
      this.notify()
    })
    call.on('error', (error: grpc.ServiceError) => {
      clearTimeout(waitTimer)
      if (this.call !== call) return
      if (!this.stopped) this.log.warn({ code: error.code, details: error.details, address: this.options.address }, 'aggregator stream failed')
      this.disconnected(call)
    })
    call.on('end', () => { clearTimeout(waitTimer); if (this.call === call) this.disconnected(call) })
  }

  private beginStream (everything: boolean): void {
    if (this.streamReady) return
    this.streamReady = true
    this.state = 'connected'
    if (this.reconnects > 0 || everything) this.log.info({ address: this.options.address, everything }, 'aggregator stream open, resending')
    else this.log.info({ address: this.options.address }, 'aggregator stream open')
    this.buffer.rewind(everything)
    this.pump()
  }

  private disconnected (call: grpc.ClientDuplexStream<WireFlowUpdate, WireFlowReceipt>): void {
    this.call = undefined
    this.streamReady = false
    this.writing = false
    try { call.cancel() } catch { /* already closed */ }
    if (this.stopped) { this.state = 'stopped'; this.notify(); return }
    this.state = 'backoff'
    const initial = this.options.backoffInitialMs ?? 250
    const cap = this.options.backoffMaxMs ?? 10_000
    const ceiling = Math.min(cap, initial * 2 ** Math.min(this.attempt, 20))
    this.attempt++
    // Full jitter: nodes restarted together do not reconnect in lockstep.
    const delay = Math.max(initial / 2, Math.random() * ceiling)
    this.reconnectTimer = setTimeout(() => { this.reconnectTimer = undefined; this.reconnects++; this.connect() }, delay)
    this.notify()
  }

  private pump (): void {
    const call = this.call
    if (call === undefined || !this.streamReady || this.writing) return
    this.writing = true
    try {
      for (;;) {
        const next = this.buffer.takeNext()
        if (next === undefined) break
        this.sent++
        if (next.resend) this.resent++
        if (!call.write({ flow: flowLogToWire(next.log) })) {
          // Back-pressure: continue when the stream drains (or the call ends and a new one rewinds).
          call.once('drain', () => { this.writing = false; this.pump() })
          return
        }
      }
      this.writing = false
    } catch (error) {
      this.writing = false
      this.log.warn({ err: error }, 'writing to the aggregator stream failed')
    }
  }

  private notify (): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves when every buffered flow log is acknowledged, or false at the deadline. */
  async waitForReceipts (deadlineMs: number): Promise<boolean> {
    const end = this.now() + deadlineMs
    while (!this.buffer.drained) {
      const remaining = end - this.now()
      if (remaining <= 0) return false
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
        const timer = setTimeout(done, Math.min(remaining, 200))
        this.waiters.add(done)
      })
    }
    return true
  }

  /** Waits for receipts up to the deadline, then closes; what is left unacknowledged is counted as lost. */
  async stop (deadlineMs: number): Promise<{ acknowledged: boolean, lost: number }> {
    const acknowledged = deadlineMs > 0 ? await this.waitForReceipts(deadlineMs) : this.buffer.drained
    this.stopped = true
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    const lost = this.buffer.abandon()
    const call = this.call
    this.call = undefined
    if (call !== undefined) { try { call.end() } catch { /* closed */ } try { call.cancel() } catch { /* closed */ } }
    this.client.close()
    this.state = 'stopped'
    return { acknowledged, lost }
  }

  status (): ExporterStatusSnapshot {
    const b = this.buffer.stats()
    return {
      state: this.state,
      address: this.options.address,
      connected: this.state === 'connected',
      queueFlowLogs: b.flowLogs,
      queueBytes: b.bytes,
      unacknowledged: b.unacknowledged,
      sent: this.sent,
      resent: this.resent,
      acks: b.acks,
      reconnects: this.reconnects,
      dropped: b.dropped,
      lastAckTimeMs: this.lastAckTimeMs,
      instance: this.instance
    }
  }
}
