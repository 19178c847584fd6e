// shadowflow.v1.NodeFlows on each agent (hubble's observer role): the node's recent flow logs and raw flows from
// bounded rings, Goldmane's filter plus pending-changed, `since`/`number` over the past, and `follow` streaming
// of new flows until the client cancels. A follower that cannot keep up loses the oldest queued flows (counted)
// instead of growing memory.
import { flowFilter, isPendingChanged, matchesFlowKey, type FlowFilter } from '../flows/flow-filter.js'
import type { FlowKey, FlowLog } from '../flows/flow-log.js'
import type { Sequenced, SequencedRing } from '../flows/bounded-ring.js'
import type { RawFlow } from '../flows/raw-flow.js'
import { flowFilterFromWire, flowLogToWire, policyTraceToWire } from '../grpc/goldmane-mapping.js'
import { wrapServerStream, wrapUnary, writeWithBackpressure, type HandlerOptions } from '../grpc/grpc-status.js'
import type { NodeFlowsImplementation } from '../grpc/load-protos.js'
import type { WireGetFlowsRequest, WireGetFlowsResponse, WireNodeStatus, WireRawFlow } from '../grpc/wire-types.js'

/** Past flows sent when the request does not say how many. */
export const DEFAULT_NUMBER = 1000
/** Flows queued for one follower before the oldest are dropped. */
export const FOLLOW_QUEUE_LIMIT = 10_000

export interface NodeQueryServiceOptions {
  flowLogs: SequencedRing<FlowLog>
  rawFlows: SequencedRing<RawFlow> | undefined
  status: () => WireNodeStatus
  handlerOptions?: HandlerOptions
  now?: () => number
}

/** The FlowKey a raw flow is filtered by: both ends' traces, the whole flow's enforced action. */
export function rawFlowFilterKey (flow: RawFlow): FlowKey {
  return {
    sourceName: flow.sourceName,
    sourceNamespace: flow.sourceNamespace,
    sourceType: flow.sourceType,
    destName: flow.destName,
    destNamespace: flow.destNamespace,
    destType: flow.destType,
    destPort: flow.destPort,
    destServiceName: flow.destServiceName,
    destServiceNamespace: flow.destServiceNamespace,
    destServicePortName: flow.destServicePortName,
    destServicePort: flow.destServicePort,
    proto: flow.proto,
    reporter: 'Src',
    action: flow.enforcedAction,
    policies: {
      enforced: [...flow.sourcePolicies.enforced, ...flow.destPolicies.enforced],
      pending: [...flow.sourcePolicies.pending, ...flow.destPolicies.pending]
    }
  }
}

/** Whether a raw flow passes a filter (pending-changed compares the whole flow's two verdicts). */
export function matchesRawFlow (filter: FlowFilter, flow: RawFlow): boolean {
  if (filter.pendingChangedOnly && flow.pendingAction === flow.enforcedAction) return false
  return matchesFlowKey({ ...filter, pendingChangedOnly: false }, rawFlowFilterKey(flow))
}

/** Whether a flow log passes a filter. */
export function matchesFlowLog (filter: FlowFilter, log: FlowLog): boolean {
  if (filter.pendingChangedOnly && !isPendingChanged(log.key)) return false
  return matchesFlowKey({ ...filter, pendingChangedOnly: false }, log.key)
}

/** A raw flow as a shadowflow.v1.RawFlow message object. */
export function rawFlowToWire (flow: RawFlow): WireRawFlow {
  return {
    proto: flow.proto,
    sourceIp: flow.sourceIp,
    destIp: flow.destIp,
    sourcePort: flow.sourcePort,
    destPort: flow.destPort,
    packetsForward: flow.packetsForward,
    bytesForward: flow.bytesForward,
    packetsReverse: flow.packetsReverse,
    bytesReverse: flow.bytesReverse,
    firstSeenMs: Math.floor(flow.firstSeenMs),
    lastSeenMs: Math.floor(flow.lastSeenMs),
    enforcedAction: flow.enforcedAction,
    pendingAction: flow.pendingAction,
    sourcePolicies: policyTraceToWire(flow.sourcePolicies.enforced, flow.sourcePolicies.pending),
    destPolicies: policyTraceToWire(flow.destPolicies.enforced, flow.destPolicies.pending),
    sourceName: flow.sourceName,
    sourceNamespace: flow.sourceNamespace,
    sourceType: flow.sourceType,
    destName: flow.destName,
    destNamespace: flow.destNamespace,
    destType: flow.destType,
    destServiceName: flow.destServiceName,
    destServiceNamespace: flow.destServiceNamespace,
    destServicePortName: flow.destServicePortName,
    destServicePort: flow.destServicePort,
    endReason: flow.endReason,
    unobservable: [...flow.unobservable]
  }
}

/** Selects past entries: ended at or after `sinceSeconds`, the most recent `number`. */
function selectPast<T> (entries: Array<Sequenced<T>>, endSeconds: (item: T) => number, matches: (item: T) => boolean, sinceSeconds: number, number: number): Array<Sequenced<T>> {
  const selected = entries.filter(e => endSeconds(e.item) >= sinceSeconds && matches(e.item))
  return selected.slice(Math.max(0, selected.length - number))
}

/** The NodeFlows implementation over the agent's rings. */
export function nodeQueryService (options: NodeQueryServiceOptions): NodeFlowsImplementation & { followOverflow: () => number } {
  const now = options.now ?? Date.now
  let followOverflow = 0
  const getFlows = async (call: import('@grpc/grpc-js').ServerWritableStream<WireGetFlowsRequest, WireGetFlowsResponse>): Promise<void> => {
    const request = call.request
    const filter = request.filter === null || request.filter === undefined ? flowFilter({ pendingChangedOnly: request.pendingChangedOnly }) : flowFilterFromWire(request.filter, request.pendingChangedOnly)
    const since = request.since < 0 ? now() / 1000 + request.since : request.since
    const number = request.number > 0 ? request.number : DEFAULT_NUMBER
    if (request.which === 'RAW_FLOWS') {
      const ring = options.rawFlows
      if (ring === undefined) return
      const matches = (f: RawFlow): boolean => matchesRawFlow(filter, f)
      await stream(call, ring, e => selectPast(e, f => f.lastSeenMs / 1000, matches, since, number), matches, f => ({ rawFlow: rawFlowToWire(f) }), request.follow)
      return
    }
    const matches = (f: FlowLog): boolean => matchesFlowLog(filter, f)
    await stream(call, options.flowLogs, e => selectPast(e, f => f.endTime, matches, since, number), matches, f => ({ flow: flowLogToWire(f) }), request.follow)
  }

  async function stream<T> (call: import('@grpc/grpc-js').ServerWritableStream<WireGetFlowsRequest, WireGetFlowsResponse>, ring: SequencedRing<T>,
    past: (entries: Array<Sequenced<T>>) => Array<Sequenced<T>>, matches: (item: T) => boolean, toWire: (item: T) => WireGetFlowsResponse, follow: boolean): Promise<void> {
    // Subscribe before reading the past, so nothing produced in between is missed; seq removes duplicates.
    const queue: T[] = []
    let wake: (() => void) | undefined
    let lastSeq = 0
    const unsubscribe = follow
      ? ring.subscribe(entry => {
        if (entry.seq <= lastSeq || !matches(entry.item)) return
        lastSeq = entry.seq
        queue.push(entry.item)
        if (queue.length > FOLLOW_QUEUE_LIMIT) { queue.shift(); followOverflow++ }
        wake?.()
      })
      : () => {}
    try {
      const snapshot = ring.since(0)
      for (const entry of past(snapshot)) {
        if (!await writeWithBackpressure(call, toWire(entry.item))) return
      }
      lastSeq = Math.max(lastSeq, snapshot[snapshot.length - 1]?.seq ?? 0)
      if (!follow) return
      const ended = new Promise<void>(resolve => { call.once('cancelled', resolve); call.once('close', resolve) })
      let open = true
      void ended.then(() => { open = false; wake?.() })
      while (open && !call.cancelled) {
        const item = queue.shift()
        if (item === undefined) { await new Promise<void>(resolve => { wake = resolve }); wake = undefined; continue }
        if (!await writeWithBackpressure(call, toWire(item))) return
      }
    } finally {
      unsubscribe()
    }
  }

  return {
    GetFlows: wrapServerStream(getFlows, options.handlerOptions),
    GetStatus: wrapUnary(() => options.status(), options.handlerOptions),
    followOverflow: () => followOverflow
  }
}
