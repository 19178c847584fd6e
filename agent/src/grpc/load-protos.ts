// Loads every .proto shadowflow serves or calls — goldmane/api.proto, shadowflow/v1/*.proto and the standard
// grpc.health.v1 health.proto — once, with one set of proto-loader options, and hands out typed client
// constructors, service definitions and the package definition (server reflection describes exactly these files).
//
// Options, chosen once for the whole code base (wire-types.ts describes the resulting shapes):
// - keepCase: false — fields arrive camelCase (`sourceName`), the same spelling as proto3 JSON and as our domain
//   types, so the mapping in goldmane-mapping.ts is a rename-free copy. Goldmane's own capitalised `Key` field
//   and `totalPages`/`totalResults` have no underscore and keep their spelling.
// - enums: String — enum values by name ('Allow'); a number arrives only for a value this build does not know.
// - longs: Number — int64 counters, ports and Unix seconds stay far below 2^53; a JS number is what the domain uses.
// - defaults: true — every scalar and repeated field is present (0, '', []), unset message fields are null.
// - oneofs: true — a received oneof carries a virtual field naming the member that is set (`result`).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import type {
  WireFilterHintsRequest, WireFilterHintsResult, WireFlowListRequest, WireFlowListResult, WireFlowReceipt,
  WireFlowResult, WireFlowStreamRequest, WireFlowUpdate, WireGetFlowsRequest, WireGetFlowsResponse,
  WireGetStatusRequest, WireImpactReport, WireImpactRequest, WireListNodesRequest, WireListNodesResponse,
  WireNodeFlowsFanoutRequest, WireNodeFlowsFanoutResponse, WireNodeStatus, WireStatisticsRequest, WireStatisticsResult
} from './wire-types.js'

/** The proto-loader options every shadowflow process uses (see the file comment for why). */
export const PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: false,
  enums: String,
  longs: Number,
  defaults: true,
  oneofs: true
})

/** The proto files, relative to the proto root. */
export const PROTO_FILES: readonly string[] = Object.freeze([
  'goldmane/api.proto',
  'shadowflow/v1/node_flows.proto',
  'shadowflow/v1/impact.proto'
])

/** Fully qualified names of the services, as health checking and reflection name them. */
export const SERVICE_NAMES = Object.freeze({
  flows: 'goldmane.Flows',
  flowCollector: 'goldmane.FlowCollector',
  statistics: 'goldmane.Statistics',
  nodeFlows: 'shadowflow.v1.NodeFlows',
  impact: 'shadowflow.v1.Impact',
  nodes: 'shadowflow.v1.Nodes'
} as const)

// ---- typed-enough clients: the method forms shadowflow uses (grpc-js also accepts the other overloads) ----

/** A unary client method. */
export type UnaryClientMethod<Req, Res> =
  (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall
/** A server-streaming client method. */
export type ServerStreamClientMethod<Req, Res> =
  (request: Req, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<Res>
/** A bidirectional-streaming client method. */
export type BidiStreamClientMethod<Req, Res> =
  (metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>) => grpc.ClientDuplexStream<Req, Res>

/** goldmane.Flows client. */
export interface FlowsClient extends grpc.Client {
  List: UnaryClientMethod<WireFlowListRequest, WireFlowListResult>
  Stream: ServerStreamClientMethod<WireFlowStreamRequest, WireFlowResult>
  FilterHints: UnaryClientMethod<WireFilterHintsRequest, WireFilterHintsResult>
}
/** goldmane.FlowCollector client. */
export interface FlowCollectorClient extends grpc.Client {
  Connect: BidiStreamClientMethod<WireFlowUpdate, WireFlowReceipt>
}
/** goldmane.Statistics client. */
export interface StatisticsClient extends grpc.Client {
  List: ServerStreamClientMethod<WireStatisticsRequest, WireStatisticsResult>
}
/** shadowflow.v1.NodeFlows client. */
export interface NodeFlowsClient extends grpc.Client {
  GetFlows: ServerStreamClientMethod<WireGetFlowsRequest, WireGetFlowsResponse>
  GetStatus: UnaryClientMethod<WireGetStatusRequest, WireNodeStatus>
}
/** shadowflow.v1.Impact client. */
export interface ImpactClient extends grpc.Client {
  GetImpact: UnaryClientMethod<WireImpactRequest, WireImpactReport>
}
/** shadowflow.v1.Nodes client. */
export interface NodesClient extends grpc.Client {
  ListNodes: UnaryClientMethod<WireListNodesRequest, WireListNodesResponse>
  GetNodeFlows: ServerStreamClientMethod<WireNodeFlowsFanoutRequest, WireNodeFlowsFanoutResponse>
}

/** grpc.health.v1.Health client (status: UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN). */
export interface HealthClient extends grpc.Client {
  Check: UnaryClientMethod<{ service: string }, { status: string }>
  Watch: ServerStreamClientMethod<{ service: string }, { status: string }>
}

// ---- typed-enough server implementations ----

/** goldmane.Flows implementation. */
export interface FlowsImplementation extends grpc.UntypedServiceImplementation {
  List: grpc.handleUnaryCall<WireFlowListRequest, WireFlowListResult>
  Stream: grpc.handleServerStreamingCall<WireFlowStreamRequest, WireFlowResult>
  FilterHints: grpc.handleUnaryCall<WireFilterHintsRequest, WireFilterHintsResult>
}
/** goldmane.FlowCollector implementation. */
export interface FlowCollectorImplementation extends grpc.UntypedServiceImplementation {
  Connect: grpc.handleBidiStreamingCall<WireFlowUpdate, WireFlowReceipt>
}
/** goldmane.Statistics implementation. */
export interface StatisticsImplementation extends grpc.UntypedServiceImplementation {
  List: grpc.handleServerStreamingCall<WireStatisticsRequest, WireStatisticsResult>
}
/** shadowflow.v1.NodeFlows implementation. */
export interface NodeFlowsImplementation extends grpc.UntypedServiceImplementation {
  GetFlows: grpc.handleServerStreamingCall<WireGetFlowsRequest, WireGetFlowsResponse>
  GetStatus: grpc.handleUnaryCall<WireGetStatusRequest, WireNodeStatus>
}
/** shadowflow.v1.Impact implementation. */
export interface ImpactImplementation extends grpc.UntypedServiceImplementation {
  GetImpact: grpc.handleUnaryCall<WireImpactRequest, WireImpactReport>
}
/** shadowflow.v1.Nodes implementation. */
export interface NodesImplementation extends grpc.UntypedServiceImplementation {
  ListNodes: grpc.handleUnaryCall<WireListNodesRequest, WireListNodesResponse>
  GetNodeFlows: grpc.handleServerStreamingCall<WireNodeFlowsFanoutRequest, WireNodeFlowsFanoutResponse>
}

/** A generated client class: `new Ctor(address, credentials, options)`; `Ctor.service` is the service definition. */
export interface TypedClientConstructor<C extends grpc.Client> {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ChannelOptions>): C
  readonly service: grpc.ServiceDefinition
  readonly serviceName: string
}

/** Everything loadProtos() returns. */
export interface LoadedProtos {
  /** The proto root directory the files were read from. */
  readonly protoRoot: string
  /** The merged package definition (all files, health.proto included); what reflection describes. */
  readonly packageDefinition: protoLoader.PackageDefinition
  readonly goldmane: {
    readonly Flows: TypedClientConstructor<FlowsClient>
    readonly FlowCollector: TypedClientConstructor<FlowCollectorClient>
    readonly Statistics: TypedClientConstructor<StatisticsClient>
  }
  readonly shadowflow: {
    readonly NodeFlows: TypedClientConstructor<NodeFlowsClient>
    readonly Impact: TypedClientConstructor<ImpactClient>
    readonly Nodes: TypedClientConstructor<NodesClient>
  }
  /** The grpc.health.v1.Health client class (health checking is served by grpc-server.ts). */
  readonly health: TypedClientConstructor<HealthClient>
}

/**
 * The directory holding `goldmane/api.proto`: the nearest `proto/` above this module. The module runs from
 * `dist/agent/src/grpc/` after the build and from `agent/src/grpc/` under a TS loader, so the depth varies.
 */
export function findProtoRoot (from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto')
    if (existsSync(join(candidate, 'goldmane', 'api.proto'))) return candidate
    if (dirname(dir) === dir) throw new Error(`proto/goldmane/api.proto not found in any parent of ${from}`)
  }
}

let loaded: LoadedProtos | undefined

/** Loads (once per process) and returns the protos; the first call reads the files synchronously. */
export function loadProtos (): LoadedProtos {
  if (loaded !== undefined) return loaded
  const protoRoot = findProtoRoot()
  const packageDefinition = protoLoader.loadSync([...PROTO_FILES, healthProtoPath], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [protoRoot]
  })
  const root = grpc.loadPackageDefinition(packageDefinition)
  const lookup = <C extends grpc.Client>(name: string): TypedClientConstructor<C> => {
    let node: unknown = root
    for (const part of name.split('.')) node = (node as Record<string, unknown>)[part]
    if (typeof node !== 'function') throw new Error(`service ${name} missing from the loaded protos`)
    return node as unknown as TypedClientConstructor<C>
  }
  loaded = Object.freeze({
    protoRoot,
    packageDefinition,
    goldmane: Object.freeze({
      Flows: lookup<FlowsClient>(SERVICE_NAMES.flows),
      FlowCollector: lookup<FlowCollectorClient>(SERVICE_NAMES.flowCollector),
      Statistics: lookup<StatisticsClient>(SERVICE_NAMES.statistics)
    }),
    shadowflow: Object.freeze({
      NodeFlows: lookup<NodeFlowsClient>(SERVICE_NAMES.nodeFlows),
      Impact: lookup<ImpactClient>(SERVICE_NAMES.impact),
      Nodes: lookup<NodesClient>(SERVICE_NAMES.nodes)
    }),
    health: lookup<HealthClient>('grpc.health.v1.Health')
  })
  return loaded
}
