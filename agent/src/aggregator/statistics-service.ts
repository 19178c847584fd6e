// goldmane.Statistics/List over the flow store.
import { wrapServerStream, writeWithBackpressure, type HandlerOptions } from '../grpc/grpc-status.js'
import type { StatisticsImplementation } from '../grpc/load-protos.js'
import type { WireStatisticsRequest, WireStatisticsResult } from '../grpc/wire-types.js'
import { statisticsRowToWire } from './aggregator-wire.js'
import type { FlowStore } from './flow-store.js'
import { computeStatistics } from './policy-statistics.js'
import { statisticsQueryFromWire } from './query-requests.js'

/** The Statistics service implementation. */
export function createStatisticsService (options: { store: FlowStore, handlerOptions?: HandlerOptions }): StatisticsImplementation {
  return {
    List: wrapServerStream<WireStatisticsRequest, WireStatisticsResult>(async call => {
      const rows = computeStatistics(options.store, statisticsQueryFromWire(call.request))
      for (const row of rows) if (!await writeWithBackpressure(call, statisticsRowToWire(row))) return
    }, options.handlerOptions)
  }
}
