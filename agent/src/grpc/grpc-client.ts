// Client channels with the same message-size limits and keepalive policy everywhere (exporter, fan-out, CLI),
// and a promise form of unary calls with a deadline.
import * as grpc from '@grpc/grpc-js'
import type { TypedClientConstructor, UnaryClientMethod } from './load-protos.js'

/** What a client accepts from a server by default: List pages and impact reports can be large. */
export const DEFAULT_CLIENT_MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024
/** What a client sends at most by default: the servers' receive limit. */
export const DEFAULT_CLIENT_MAX_SEND_MESSAGE_BYTES = 4 * 1024 * 1024
// Keepalive pings only while calls are active (permit_without_calls 0): gRPC-Go servers, Calico's Goldmane
// among them, answer pings on idle connections (or more often than their enforcement policy allows) with a
// GOAWAY, while an active export stream resets their ping strikes.
/** Interval of keepalive pings on a channel with active calls. */
export const DEFAULT_CLIENT_KEEPALIVE_TIME_MS = 60_000
/** How long a ping may stay unanswered before the connection is considered dead. */
export const DEFAULT_CLIENT_KEEPALIVE_TIMEOUT_MS = 20_000

/** Client channel options. */
export interface GrpcClientOptions {
  maxReceiveMessageBytes?: number
  maxSendMessageBytes?: number
  keepaliveTimeMs?: number
  keepaliveTimeoutMs?: number
  /** The name to verify the server's certificate against when it differs from the address's host. */
  serverNameOverride?: string
  /** Cap of the channel's own reconnection backoff (the exporter runs its own backoff on top). */
  maxReconnectBackoffMs?: number
  /** Raw grpc-js channel options, applied last. */
  channelOptions?: Partial<grpc.ChannelOptions>
}

/** The grpc-js channel options for the given client options. */
export function grpcClientChannelOptions (options: GrpcClientOptions = {}): Partial<grpc.ChannelOptions> {
  const channel: Partial<grpc.ChannelOptions> = {
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_CLIENT_MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_CLIENT_MAX_SEND_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? DEFAULT_CLIENT_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? DEFAULT_CLIENT_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 0,
    // Cluster-internal links never go through an HTTP proxy, whatever the environment's http_proxy says.
    'grpc.enable_http_proxy': 0
  }
  if (options.serverNameOverride !== undefined) channel['grpc.ssl_target_name_override'] = options.serverNameOverride
  if (options.maxReconnectBackoffMs !== undefined) channel['grpc.max_reconnect_backoff_ms'] = options.maxReconnectBackoffMs
  return { ...channel, ...options.channelOptions }
}

/** A client of `Client` (e.g. `loadProtos().goldmane.FlowCollector`) for `address` ("host:port"). */
export function createGrpcClient<C extends grpc.Client> (
  Client: TypedClientConstructor<C>,
  address: string,
  credentials: grpc.ChannelCredentials,
  options: GrpcClientOptions = {}
): C {
  return new Client(address, credentials, grpcClientChannelOptions(options))
}

/** Per-call options of callUnary. */
export interface UnaryCallOptions {
  metadata?: grpc.Metadata
  /** Deadline relative to now; no deadline when omitted. */
  deadlineMs?: number
}

type RequestOf<M> = M extends UnaryClientMethod<infer Req, unknown> ? Req : never
type ResponseOf<M> = M extends UnaryClientMethod<never, infer Res> ? Res : never
type UnaryMethodNames<C> = { [K in keyof C]: C[K] extends UnaryClientMethod<never, unknown> ? K : never }[keyof C]

/**
 * Calls a unary method as a promise: `await callUnary(client, 'GetStatus', {}, { deadlineMs: 5000 })`.
 * Rejects with grpc-js's ServiceError (code, details, metadata).
 */
export async function callUnary<C extends grpc.Client, K extends UnaryMethodNames<C>> (
  client: C,
  method: K,
  request: RequestOf<C[K]>,
  options: UnaryCallOptions = {}
): Promise<ResponseOf<C[K]>> {
  const fn = client[method] as unknown as UnaryClientMethod<RequestOf<C[K]>, ResponseOf<C[K]>>
  const callOptions: Partial<grpc.CallOptions> = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs }
  return await new Promise((resolve, reject) => {
    fn.call(client, request, options.metadata ?? new grpc.Metadata(), callOptions, (error, response) => {
      if (error !== null) reject(error)
      else resolve(response as ResponseOf<C[K]>)
    })
  })
}

/** Resolves once the client's channel is connected, or rejects after `deadlineMs`. */
export async function waitForClientReady (client: grpc.Client, deadlineMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + deadlineMs, error => {
      if (error === undefined) resolve()
      else reject(error)
    })
  })
}
