// goldmane.FlowCollector/Connect: nodes stream FlowUpdates, the server answers each with one FlowReceipt.
// Resends (same node, FlowKey and start time) are acknowledged but not stored again, so an agent may resend its
// whole buffer after reconnecting — and must, after an aggregator restart, which it detects by the instance id
// sent in the initial metadata. A malformed update is acknowledged and counted, not fatal: failing the stream
// would make the sender reconnect and resend the same update forever.
import * as grpc from '@grpc/grpc-js'
import { RequestInvalidError } from '../errors.js'
import { flowLogFromWire } from '../grpc/goldmane-mapping.js'
import { wrapBidiStream, type HandlerOptions } from '../grpc/grpc-status.js'
import type { FlowCollectorImplementation } from '../grpc/load-protos.js'
import type { WireFlowReceipt, WireFlowUpdate } from '../grpc/wire-types.js'
import type { Logger } from '../telemetry/logger.js'
import { flowKeyIdentity } from './flow-key-identity.js'
import type { FlowStore } from './flow-store.js'
import type { LiveCalls } from './flows-service.js'
import { NODE_METADATA, type NodeConnection, type NodeRegistry } from './node-registry.js'
import { ResendDeduplicator } from './resend-deduplicator.js'

/** What the collector writes into and reports to. */
export interface FlowCollectorServiceOptions {
  store: FlowStore
  dedup: ResendDeduplicator
  nodes: NodeRegistry
  /** This process's identity, announced in the initial metadata. */
  instanceId: string
  logger: Logger
  /** Open Connect streams: bounded, and ended together when the aggregator shuts down. */
  connections: LiveCalls
  handlerOptions?: HandlerOptions
}

// Kubernetes node names are DNS subdomains (≤ 253); an address is host:port.
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/
const QUERY_ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253}):\d{1,5}$/

function metadataText (metadata: grpc.Metadata, key: string): string {
  const value = metadata.get(key)[0]
  return typeof value === 'string' ? value.trim() : ''
}

/** Reads and checks the node's identity metadata; throws RequestInvalidError for a malformed one. */
export function nodeIdentityOf (metadata: grpc.Metadata): { name: string, queryAddress: string } {
  const name = metadataText(metadata, NODE_METADATA.node)
  const queryAddress = metadataText(metadata, NODE_METADATA.queryAddress)
  if (name !== '' && !NODE_NAME.test(name)) throw new RequestInvalidError(`node name "${name.slice(0, 64)}" is not a DNS name`, NODE_METADATA.node)
  if (queryAddress !== '' && !QUERY_ADDRESS.test(queryAddress)) {
    throw new RequestInvalidError(`query address "${queryAddress.slice(0, 64)}" is not host:port`, NODE_METADATA.queryAddress)
  }
  return { name, queryAddress }
}

/** The FlowCollector service implementation. */
export function createFlowCollectorService (options: FlowCollectorServiceOptions): FlowCollectorImplementation {
  const { store, dedup, nodes, logger } = options

  const receive = (node: NodeConnection, update: WireFlowUpdate, warned: { invalid: boolean }): void => {
    let flow
    try {
      if (update.flow === null || update.flow === undefined) throw new RequestInvalidError('the update carries no flow', 'flow')
      flow = flowLogFromWire(update.flow)
    } catch (error) {
      if (!(error instanceof RequestInvalidError)) throw error
      node.update(0, 'invalid')
      // One line per connection, not per update: the counter carries the rest.
      if (!warned.invalid) {
        warned.invalid = true
        logger.warn({ node: node.id, field: error.location.field, reason: error.message }, 'malformed flow update acknowledged and dropped')
      }
      return
    }
    const identity = flowKeyIdentity(flow.key)
    const fingerprint = ResendDeduplicator.fingerprint(node.id, identity, flow.startTime)
    if (dedup.isDuplicate(fingerprint, flow.startTime)) { node.update(flow.endTime, 'duplicate'); return }
    const outcome = store.ingest(flow, identity)
    // Only what the store holds is remembered: a flow dropped while the store was full may be stored on resend.
    if (outcome === 'added' || outcome === 'merged') dedup.remember(fingerprint, flow.startTime)
    node.update(flow.endTime, 'stored')
  }

  return {
    Connect: wrapBidiStream<WireFlowUpdate, WireFlowReceipt>(async call => {
      const identity = nodeIdentityOf(call.metadata)
      let end = (): void => {}
      const release = options.connections.open(() => end())
      const initial = new grpc.Metadata()
      initial.set(NODE_METADATA.instance, options.instanceId)
      call.sendMetadata(initial)
      const node = nodes.connect(identity.name, identity.queryAddress, call.getPeer())
      const log = logger.child({ node: node.id })
      log.info({ queryAddress: identity.queryAddress, peer: call.getPeer() }, 'node connected')
      const warned = { invalid: false }
      try {
        await new Promise<void>((resolve, reject) => {
          // Shutdown ends the stream with OK: the node reconnects (to this address, once it serves again).
          end = resolve
          call.on('data', (update: WireFlowUpdate) => {
            try {
              receive(node, update, warned)
            } catch (error) {
              reject(error)
              return
            }
            // Receipts are tiny, but a sender that never reads them must not grow our buffer: stop reading.
            if (!call.write({})) {
              call.pause()
              call.once('drain', () => call.resume())
            }
          })
          call.on('end', () => resolve())
          call.on('cancelled', () => resolve())
          call.on('close', () => resolve())
          call.on('error', () => resolve())
        })
      } finally {
        release()
        node.release()
        log.info('node disconnected')
      }
    }, options.handlerOptions)
  }
}
