// goldmane.Flows: List, Stream (live) and FilterHints over the flow store.
import { OverloadedError } from '../errors.js'
import { flowLogToWire } from '../grpc/goldmane-mapping.js'
import { wrapServerStream, wrapUnary, writeWithBackpressure, type HandlerOptions } from '../grpc/grpc-status.js'
import type { FlowsImplementation } from '../grpc/load-protos.js'
import type { WireFilterHintsRequest, WireFilterHintsResult, WireFlowListRequest, WireFlowListResult, WireFlowResult, WireFlowStreamRequest } from '../grpc/wire-types.js'
import type { FlowStore } from './flow-store.js'
import { LiveFlowFeed } from './live-flow-feed.js'
import { filterHintsQueryFromWire, flowListQueryFromWire, flowStreamQueryFromWire, type QueryLimits } from './query-requests.js'

/** Live calls (Flows.Stream, followed fan-outs) share one bound and are ended together on shutdown. */
export class LiveCalls {
  private readonly stops = new Set<() => void>()
  constructor (readonly max: number) {}

  get size (): number { return this.stops.size }

  /** Registers a live call; throws OverloadedError (RESOURCE_EXHAUSTED) at the bound. */
  open (stop: () => void): () => void {
    if (this.stops.size >= this.max) throw new OverloadedError(`${this.stops.size} live streams are open, the limit is ${this.max}; try again later`)
    this.stops.add(stop)
    return () => { this.stops.delete(stop) }
  }

  /** Ends every live call (server shutdown). */
  stopAll (): void {
    for (const stop of [...this.stops]) stop()
  }
}

/** Options of the Flows service. */
export interface FlowsServiceOptions {
  store: FlowStore
  limits: QueryLimits
  live: LiveCalls
  /** How often a live stream checks for settled buckets (default 1000 ms). */
  streamTickMs?: number
  /** Seconds after a bucket ends before a stream sends it (default 15). */
  streamSettleSeconds?: number
  handlerOptions?: HandlerOptions
}

/** The Flows service implementation. */
export function createFlowsService (options: FlowsServiceOptions): FlowsImplementation {
  const { store, limits } = options
  const tickMs = options.streamTickMs ?? 1000
  return {
    List: wrapUnary<WireFlowListRequest, WireFlowListResult>(call => {
      const query = flowListQueryFromWire(call.request, limits)
      const page = store.list(query)
      if (query.pageSize === 0 && page.totalResults > limits.maxPageSize) {
        throw new OverloadedError(`the query matches ${page.totalResults} flows, more than ${limits.maxPageSize} in one answer; ask for pages (page_size)`)
      }
      return {
        meta: { totalPages: page.totalPages, totalResults: page.totalResults },
        flows: page.items.map(r => ({ id: r.id, flow: flowLogToWire(r.flow) }))
      }
    }, options.handlerOptions),

    Stream: wrapServerStream<WireFlowStreamRequest, WireFlowResult>(async call => {
      const query = flowStreamQueryFromWire(call.request, limits)
      const now = store.nowSeconds()
      // Goldmane: 0 = from now; negative = relative to now.
      const fromSeconds = query.startTimeGte === 0 ? now : query.startTimeGte < 0 ? now + query.startTimeGte : query.startTimeGte
      let stopped = false
      let wake: (() => void) | undefined
      const stop = (): void => { stopped = true; wake?.() }
      const release = options.live.open(stop)
      const feed = new LiveFlowFeed(store, { fromSeconds, filter: query.filter, ...(options.streamSettleSeconds === undefined ? {} : { settleSeconds: options.streamSettleSeconds }) })
      call.on('cancelled', stop)
      call.on('close', stop)
      try {
        while (!stopped && !call.cancelled) {
          for (const result of feed.takeReady(store.nowSeconds())) {
            if (!await writeWithBackpressure(call, { id: result.id, flow: flowLogToWire(result.flow) })) return
          }
          await new Promise<void>(resolve => {
            const timer = setTimeout(resolve, tickMs)
            wake = () => { clearTimeout(timer); resolve() }
          })
        }
      } finally {
        feed.close()
        release()
      }
    }, options.handlerOptions),

    FilterHints: wrapUnary<WireFilterHintsRequest, WireFilterHintsResult>(call => {
      const query = filterHintsQueryFromWire(call.request, limits)
      const page = store.filterHints(query)
      if (query.pageSize === 0 && page.totalResults > limits.maxPageSize) {
        throw new OverloadedError(`${page.totalResults} hints, more than ${limits.maxPageSize} in one answer; ask for pages (page_size)`)
      }
      return { meta: { totalPages: page.totalPages, totalResults: page.totalResults }, hints: page.items.map(value => ({ value })) }
    }, options.handlerOptions)
  }
}
