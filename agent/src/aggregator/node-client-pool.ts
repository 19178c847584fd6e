// NodeFlows clients for the fan-out, one channel per node query address, reused across queries. Bounded: the
// least recently used client is closed when a new address would exceed the bound.
import type * as grpc from '@grpc/grpc-js'
import { createGrpcClient, type GrpcClientOptions } from '../grpc/grpc-client.js'
import { loadProtos, type NodeFlowsClient } from '../grpc/load-protos.js'

/** Pool options. */
export interface NodeClientPoolOptions {
  credentials: grpc.ChannelCredentials
  clientOptions?: GrpcClientOptions
  /** Most open channels (default 64). */
  maxClients?: number
}

/** A small LRU pool of NodeFlows clients keyed by address. */
export class NodeClientPool {
  private readonly clients = new Map<string, NodeFlowsClient>()
  private readonly maxClients: number
  closedForRoom = 0

  constructor (private readonly options: NodeClientPoolOptions) {
    this.maxClients = options.maxClients ?? 64
  }

  /** The client for `address`, created on first use. */
  get (address: string): NodeFlowsClient {
    const existing = this.clients.get(address)
    if (existing !== undefined) {
      // Map order is the LRU order: move to the end.
      this.clients.delete(address)
      this.clients.set(address, existing)
      return existing
    }
    while (this.clients.size >= this.maxClients) {
      const [oldest, client] = this.clients.entries().next().value as [string, NodeFlowsClient]
      this.clients.delete(oldest)
      client.close()
      this.closedForRoom++
    }
    const client = createGrpcClient(loadProtos().shadowflow.NodeFlows, address, this.options.credentials, this.options.clientOptions)
    this.clients.set(address, client)
    return client
  }

  get size (): number { return this.clients.size }

  /** Closes every channel. */
  close (): void {
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }
}
