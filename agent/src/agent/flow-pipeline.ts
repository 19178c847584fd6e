// tap → endpoints → policy → flow logs: the one code path the daemon (`shadowflow agent`) and `shadowflow
// replay` share. Owns the policy engine, the resolver and the aggregator, applies policy sets atomically, and
// runs a TapSource to its end, handing out flow logs as intervals close.
import { FlowEndpointResolver } from '../endpoints/flow-endpoint-resolver.js'
import { FlowLogAggregator, type FlowLogSink } from '../flows/flow-log-aggregator.js'
import { PolicyEngine, type StagedMode } from '../policy/policy-engine.js'
import { emptyRecord } from '../tap/record-layout.js'
import type { TapSource } from '../tap/tap-source.js'
import type { PolicySet } from './policy-source.js'

export interface FlowPipelineOptions {
  nodeName: string
  /** Every endpoint reports (replay), instead of only this node's. */
  allLocal: boolean
  stagedMode: StagedMode
  intervalSeconds: number
  maxTrackedFlows: number
  recentFlows: number
}

/**
 * Which clock closes intervals: `wall` (live capture and synthetic records carry the current time) or `event`
 * (a capture file's records carry capture time: intervals close one interval behind the newest record seen).
 */
export type PipelineClock = 'wall' | 'event'

export interface RunOptions {
  clock: PipelineClock
  /** Receives flow logs as their intervals close, and everything left when the source ends (in chunks). */
  sink: FlowLogSink
  /** How often closed intervals are emitted (ms). */
  tickMs?: number
  /** After each batch (progress display). */
  onBatch?: (records: number) => void
  /**
   * `now` shifts a capture's timestamps so its first record happens now (demos and tests of old captures
   * against an aggregator whose retention window is the last hour); `capture` (default) keeps them.
   */
  captureClock?: 'capture' | 'now'
}

/** The evaluation pipeline of one agent. */
export class FlowPipeline {
  readonly engine: PolicyEngine
  readonly aggregator: FlowLogAggregator
  private resolverInstance: FlowEndpointResolver | undefined
  private policySet: PolicySet | undefined
  private newestRecordMs = 0
  private recordsSeen = 0

  constructor (private readonly options: FlowPipelineOptions) {
    // Placeholder until the first policy set: an engine over an empty directory evaluates nothing real.
    const empty = { entitiesForIp: () => [], endpointForIp: () => undefined, namespace: () => undefined, serviceAccount: () => undefined, service: () => undefined, serviceForIp: () => undefined, entityCount: 0 }
    // No whole-flow verdict cache in the engine: the aggregator keeps verdicts per flow shape, in front of it.
    this.engine = new PolicyEngine(empty, { stagedMode: options.stagedMode, verdictCacheSize: 0 })
    this.aggregator = new FlowLogAggregator(this.engine, { resolve: () => undefined, serviceFor: () => undefined }, {
      intervalSeconds: options.intervalSeconds,
      maxTrackedFlows: options.maxTrackedFlows,
      recentFlows: options.recentFlows
    })
  }

  /** Puts a policy/inventory set in force; on failure the previous set is restored and the error rethrown. */
  apply (set: PolicySet): void {
    const previous = this.policySet
    // Raw flows evaluated for their local end only get their peer's verdict under the set they were seen with.
    this.aggregator.beforePipelineChange()
    try {
      this.engine.setDirectory(set.directory)
      this.engine.setPolicies(set.policies, set.tiers)
    } catch (error) {
      if (previous !== undefined) {
        this.engine.setDirectory(previous.directory)
        this.engine.setPolicies(previous.policies, previous.tiers)
      }
      throw error
    }
    this.policySet = set
    this.resolverInstance = new FlowEndpointResolver(set.directory, { nodeName: this.options.nodeName, allLocal: this.options.allLocal })
    this.aggregator.setPipeline(this.engine, this.resolverInstance)
  }

  /** The set in force. */
  get set (): PolicySet | undefined { return this.policySet }

  get resolver (): FlowEndpointResolver | undefined { return this.resolverInstance }

  /** Records processed so far. */
  get records (): number { return this.recordsSeen }

  /** Hands `sink` the flow logs of the intervals that have closed by the chosen clock, in chunks. */
  closeReady (clock: PipelineClock, sink: FlowLogSink, nowMs = Date.now()): void {
    if (clock === 'wall') this.aggregator.closeBefore(nowMs, sink)
    else if (this.newestRecordMs !== 0) this.aggregator.closeBefore(this.newestRecordMs - this.aggregator.intervalSeconds * 1000, sink)
  }

  /** Hands `sink` every open interval's flow logs, in chunks. */
  flushAll (sink: FlowLogSink): void { this.aggregator.flushAll(sink) }

  /** Runs `source` until it ends or is closed (then flushes everything). Rejects with the source's error. */
  async run (source: TapSource, options: RunOptions): Promise<void> {
    const tickMs = options.tickMs ?? 1000
    let lastCloseMs = Date.now()
    const close = (nowMs: number): void => {
      lastCloseMs = nowMs
      this.closeReady(options.clock, options.sink, nowMs)
    }
    const tick = setInterval(() => { close(Date.now()) }, tickMs)
    let shiftMs: number | undefined = options.captureClock === 'now' ? undefined : 0
    try {
      // One record object for the whole run where the source can decode into it (the aggregator keeps none).
      const scratch = emptyRecord()
      for await (const batch of source) {
        for (let i = 0; i < batch.count; i++) {
          const record = batch.recordInto !== undefined ? batch.recordInto(i, scratch) : batch.record(i)
          shiftMs ??= Date.now() - record.firstSeenMs
          if (shiftMs !== 0) { record.firstSeenMs += shiftMs; record.lastSeenMs += shiftMs }
          if (record.lastSeenMs > this.newestRecordMs) this.newestRecordMs = record.lastSeenMs
          this.aggregator.add(record)
        }
        this.recordsSeen += batch.count
        options.onBatch?.(this.recordsSeen)
        // A source that always has a batch ready resolves the iterator in microtasks only, so the timer above
        // would never run: intervals would pile up until the open-flow-log bound dropped data. Close them here
        // on the same schedule, and give the event loop a turn so export, queries and metrics keep running.
        const now = Date.now()
        if (now - lastCloseMs >= tickMs) {
          close(now)
          await new Promise<void>(resolve => setImmediate(resolve))
        }
      }
    } finally {
      clearInterval(tick)
      this.flushAll(options.sink)
      // The source's flow ids and slots mean nothing to the next source run through this pipeline.
      this.aggregator.forgetFlows()
    }
  }
}
