// shadowflow.v1.Nodes: the connected agents (ListNodes) and a fan-out of NodeFlows.GetFlows to one node or all
// (GetNodeFlows). Each node is queried on its own call with its own deadline; its responses are forwarded
// tagged with its name and its failure is sent in-band as a NodeError, so one failing node never fails the
// whole query (hubble-relay's rule). A followed fan-out counts as a live call.
import * as grpc from '@grpc/grpc-js'
import { RequestInvalidError, UnknownNodeError } from '../errors.js'
import { wrapServerStream, wrapUnary, type HandlerOptions } from '../grpc/grpc-status.js'
import type { NodesImplementation } from '../grpc/load-protos.js'
import type {
  WireGetFlowsRequest, WireGetFlowsResponse, WireListNodesRequest, WireListNodesResponse, WireNodeFlowsFanoutRequest,
  WireNodeFlowsFanoutResponse
} from '../grpc/wire-types.js'
import { nodeInfoToWire } from './aggregator-wire.js'
import type { LiveCalls } from './flows-service.js'
import type { NodeClientPool } from './node-client-pool.js'
import type { NodeInfo, NodeRegistry } from './node-registry.js'
import { filterFromRequest, type QueryLimits } from './query-requests.js'

/** Options of the Nodes service. */
export interface NodesServiceOptions {
  nodes: NodeRegistry
  pool: NodeClientPool
  limits: QueryLimits
  live: LiveCalls
  /** Deadline of each node's call when not following (default 5000 ms). */
  perNodeDeadlineMs?: number
  handlerOptions?: HandlerOptions
}

// Re-sent as a fresh object: the received oneof carries a virtual `result` member and a null for the other one.
function forwardable (response: WireGetFlowsResponse): WireGetFlowsResponse {
  return response.result === 'rawFlow' || (response.rawFlow !== null && response.rawFlow !== undefined && response.flow == null)
    ? { rawFlow: response.rawFlow ?? null }
    : { flow: response.flow ?? null }
}

function statusOf (error: unknown): { code: number, message: string } {
  const e = error as Partial<grpc.ServiceError>
  return { code: typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN, message: typeof e.details === 'string' && e.details !== '' ? e.details : String((error as Error)?.message ?? error) }
}

/** The Nodes service implementation. */
export function createNodesService (options: NodesServiceOptions): NodesImplementation {
  const deadlineMs = options.perNodeDeadlineMs ?? 5000
  return {
    ListNodes: wrapUnary<WireListNodesRequest, WireListNodesResponse>(() => ({ nodes: options.nodes.list().map(nodeInfoToWire) }), options.handlerOptions),

    GetNodeFlows: wrapServerStream<WireNodeFlowsFanoutRequest, WireNodeFlowsFanoutResponse>(async call => {
      const { node: wanted } = call.request
      if (typeof wanted !== 'string' || wanted.length > 253) throw new RequestInvalidError('node must be a node name or ""', 'node')
      const request: WireGetFlowsRequest = call.request.request ?? { filter: null, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' }
      // Validated here so a bad filter is one INVALID_ARGUMENT, not the same error from every node.
      filterFromRequest(request.filter, options.limits, false, 'request.filter')
      let targets: NodeInfo[]
      if (wanted === '') {
        targets = options.nodes.list()
      } else {
        const node = options.nodes.get(wanted)
        if (node === undefined) throw new UnknownNodeError(`no node named "${wanted}" has connected to this aggregator`)
        targets = [node]
      }
      const children = new Set<grpc.ClientReadableStream<WireGetFlowsResponse>>()
      const paused = new Set<grpc.ClientReadableStream<WireGetFlowsResponse>>()
      const stop = (): void => { for (const child of children) child.cancel() }
      const release = request.follow ? options.live.open(stop) : () => {}
      call.on('cancelled', stop)
      call.on('drain', () => { for (const child of paused) child.resume(); paused.clear() })
      const send = (message: WireNodeFlowsFanoutResponse, child?: grpc.ClientReadableStream<WireGetFlowsResponse>): void => {
        if (call.cancelled || call.writableEnded) return
        if (!call.write(message) && child !== undefined) { child.pause(); paused.add(child) }
      }
      try {
        await Promise.all(targets.map(async node => {
          if (node.queryAddress === '') {
            send({ node: node.id, error: { code: grpc.status.FAILED_PRECONDITION, message: 'the node did not announce a query address (x-shadowflow-query-address)' } })
            return
          }
          const client = options.pool.get(node.queryAddress)
          const callOptions: Partial<grpc.CallOptions> = request.follow ? {} : { deadline: Date.now() + deadlineMs }
          const child = client.GetFlows(request, new grpc.Metadata(), callOptions)
          children.add(child)
          await new Promise<void>(resolve => {
            let done = false
            const finish = (): void => { if (!done) { done = true; children.delete(child); paused.delete(child); resolve() } }
            child.on('data', (response: WireGetFlowsResponse) => { send({ node: node.id, response: forwardable(response) }, child) })
            child.on('error', error => { send({ node: node.id, error: statusOf(error) }); finish() })
            child.on('end', finish)
          })
        }))
      } finally {
        stop()
        release()
      }
    }, options.handlerOptions)
  }
}
