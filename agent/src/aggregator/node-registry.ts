// The nodes that stream to the aggregator: identity from call metadata, connection state, counters and lag.
// A node identifies itself with `x-shadowflow-node` and `x-shadowflow-query-address`; a connection without
// them (Calico Felix) is node "unknown", kept apart per peer host so two Felix nodes' resends are not
// mistaken for each other. Bounded: beyond `maxNodes`, the longest-disconnected node is forgotten.

/** Metadata keys a node sends on FlowCollector/Connect, and the server's instance id it gets back. */
export const NODE_METADATA = Object.freeze({
  node: 'x-shadowflow-node',
  queryAddress: 'x-shadowflow-query-address',
  instance: 'x-shadowflow-instance'
})

/** The name given to connections that do not identify themselves. */
export const UNKNOWN_NODE = 'unknown'

/** One node's state as ListNodes reports it. */
export interface NodeInfo {
  /** Registry identity: the node name, or `unknown@<peer host>`. */
  readonly id: string
  readonly name: string
  readonly queryAddress: string
  readonly connected: boolean
  /** Open Connect streams (a reconnecting node may briefly have two). */
  readonly streams: number
  readonly connectedSince: number
  readonly lastUpdateTime: number
  /** Seconds between now and the newest flow end time received (0 before the first flow). */
  readonly lagSeconds: number
  readonly updatesReceived: number
  readonly duplicatesDropped: number
  readonly invalidUpdates: number
}

interface NodeState {
  id: string
  name: string
  queryAddress: string
  streams: number
  connectedSince: number
  lastUpdateTime: number
  newestFlowEnd: number
  updatesReceived: number
  duplicatesDropped: number
  invalidUpdates: number
  disconnectedAt: number
}

/** Registry options. */
export interface NodeRegistryOptions {
  maxNodes?: number
  nowSeconds?: () => number
}

/** A connected stream's handle: count what it receives, then release it when the stream ends. */
export interface NodeConnection {
  readonly id: string
  readonly name: string
  update (flowEndTime: number, outcome: 'stored' | 'duplicate' | 'invalid'): void
  release (): void
}

/** Host part of a grpc-js peer string (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`, `1.2.3.4:5`). */
export function peerHost (peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '')
  const bracket = /^\[([^\]]+)\]/.exec(bare)
  if (bracket !== null) return bracket[1] as string
  const colon = bare.lastIndexOf(':')
  return colon > 0 && bare.indexOf(':') === colon ? bare.slice(0, colon) : bare
}

/** Connected and recently connected nodes. */
export class NodeRegistry {
  private readonly nodes = new Map<string, NodeState>()
  private readonly maxNodes: number
  private readonly nowSeconds: () => number
  forgotten = 0

  constructor (options: NodeRegistryOptions = {}) {
    this.maxNodes = options.maxNodes ?? 10_000
    this.nowSeconds = options.nowSeconds ?? (() => Date.now() / 1000)
  }

  /** Registers a new Connect stream from `name` (empty = unknown, told apart by `peer`). */
  connect (name: string, queryAddress: string, peer: string): NodeConnection {
    const known = name !== ''
    const id = known ? name : `${UNKNOWN_NODE}@${peerHost(peer)}`
    const now = this.nowSeconds()
    let state = this.nodes.get(id)
    if (state === undefined) {
      this.makeRoom()
      state = { id, name: known ? name : UNKNOWN_NODE, queryAddress, streams: 0, connectedSince: now, lastUpdateTime: 0, newestFlowEnd: 0, updatesReceived: 0, duplicatesDropped: 0, invalidUpdates: 0, disconnectedAt: 0 }
      this.nodes.set(id, state)
    }
    if (state.streams === 0) state.connectedSince = now
    if (queryAddress !== '') state.queryAddress = queryAddress
    state.streams++
    const node = state
    let released = false
    return {
      id,
      name: node.name,
      update: (flowEndTime, outcome) => {
        node.lastUpdateTime = this.nowSeconds()
        node.updatesReceived++
        if (outcome === 'duplicate') node.duplicatesDropped++
        if (outcome === 'invalid') node.invalidUpdates++
        else node.newestFlowEnd = Math.max(node.newestFlowEnd, flowEndTime)
      },
      release: () => {
        if (released) return
        released = true
        node.streams--
        if (node.streams === 0) node.disconnectedAt = this.nowSeconds()
      }
    }
  }

  /** Every node, by name. */
  list (): NodeInfo[] {
    const now = this.nowSeconds()
    return [...this.nodes.values()].sort((a, b) => a.id.localeCompare(b.id)).map(n => ({
      id: n.id,
      name: n.name,
      queryAddress: n.queryAddress,
      connected: n.streams > 0,
      streams: n.streams,
      connectedSince: Math.floor(n.connectedSince),
      lastUpdateTime: Math.floor(n.lastUpdateTime),
      lagSeconds: n.newestFlowEnd === 0 ? 0 : Math.max(0, now - n.newestFlowEnd),
      updatesReceived: n.updatesReceived,
      duplicatesDropped: n.duplicatesDropped,
      invalidUpdates: n.invalidUpdates
    }))
  }

  /** One node by name (or registry id). */
  get (name: string): NodeInfo | undefined {
    return this.list().find(n => n.id === name || n.name === name)
  }

  get size (): number { return this.nodes.size }

  private makeRoom (): void {
    while (this.nodes.size >= this.maxNodes) {
      let victim: NodeState | undefined
      for (const n of this.nodes.values()) {
        if (n.streams === 0 && (victim === undefined || n.disconnectedAt < victim.disconnectedAt)) victim = n
      }
      // Every node connected: keep them all (each holds a live stream, which the server bounds).
      if (victim === undefined) return
      this.nodes.delete(victim.id)
      this.forgotten++
    }
  }
}
