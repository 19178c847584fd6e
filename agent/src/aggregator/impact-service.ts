// shadowflow.v1.Impact/GetImpact over the flow store.
import { wrapUnary, type HandlerOptions } from '../grpc/grpc-status.js'
import type { ImpactImplementation } from '../grpc/load-protos.js'
import type { WireImpactReport, WireImpactRequest } from '../grpc/wire-types.js'
import { impactReportToWire } from './aggregator-wire.js'
import type { FlowStore } from './flow-store.js'
import { computeImpact } from './impact-report.js'
import { impactQueryFromWire, type QueryLimits } from './query-requests.js'

/** The Impact service implementation. */
export function createImpactService (options: { store: FlowStore, limits: QueryLimits, handlerOptions?: HandlerOptions }): ImpactImplementation {
  return {
    GetImpact: wrapUnary<WireImpactRequest, WireImpactReport>(call =>
      impactReportToWire(computeImpact(options.store, impactQueryFromWire(call.request, options.limits))), options.handlerOptions)
  }
}
