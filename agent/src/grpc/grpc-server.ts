// A grpc-js server set up the same way for the agent and the aggregator: message-size limits, keepalive,
// grpc.health.v1 health checking (grpc-health-check) and server reflection (@grpc/reflection) describing every
// loaded proto; binding that reports the port, and a graceful shutdown bounded by a deadline. Requests that do
// not parse as protobuf get INVALID_ARGUMENT (grpc-js alone answers INTERNAL): services added through
// addService deserialize tolerantly and an interceptor turns the unparsable message into the status.
import * as grpc from '@grpc/grpc-js'
import { HealthImplementation, type ServingStatus } from 'grpc-health-check'
import { ReflectionService } from '@grpc/reflection'
import { loadProtos } from './load-protos.js'
import { toGrpcStatus } from './grpc-status.js'
import { RequestInvalidError } from '../errors.js'

export { createGrpcClient, grpcClientChannelOptions, callUnary, type GrpcClientOptions } from './grpc-client.js'
export type { ServingStatus } from 'grpc-health-check'

/** Largest request message a server accepts by default; larger ones get RESOURCE_EXHAUSTED. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024
/** Largest response message a server sends by default (a List page or an impact report). */
export const DEFAULT_MAX_SEND_MESSAGE_BYTES = 16 * 1024 * 1024
/** How long shutdown() lets running calls finish before cancelling them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000

/** Server options. */
export interface GrpcServerOptions {
  maxReceiveMessageBytes?: number
  maxSendMessageBytes?: number
  /** Server → client pings, so dead followers and collectors are noticed (default 60 s, timeout 20 s). */
  keepaliveTimeMs?: number
  keepaliveTimeoutMs?: number
  /** Concurrent calls per connection (default: grpc-js's, unlimited). */
  maxConcurrentStreams?: number
  /** Serve grpc.reflection (default true). */
  reflection?: boolean
  /** Raw grpc-js server options, applied last. */
  serverOptions?: grpc.ServerOptions
}

/** A configured server; `server` is the grpc-js server for anything not covered here. */
export interface GrpcServer {
  readonly server: grpc.Server
  /** Adds a service and reports it SERVING in health checks (by its full name, e.g. `goldmane.Flows`). */
  addService: (serviceName: string, definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => void
  /** Sets a service's health status; '' is the whole server. */
  setServingStatus: (serviceName: string, status: ServingStatus) => void
  /** Binds `address` (e.g. `127.0.0.1:0`) and resolves with the bound port. */
  bind: (address: string, credentials: grpc.ServerCredentials) => Promise<number>
  /** Reports NOT_SERVING, lets calls finish for `graceMs`, then cancels the rest; says which way it ended. */
  shutdown: (graceMs?: number) => Promise<'graceful' | 'forced'>
}

/** The grpc-js server options for the given server options. */
export function grpcServerChannelOptions (options: GrpcServerOptions = {}): grpc.ServerOptions {
  const channel: grpc.ServerOptions = {
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_SEND_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 60_000,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 20_000
  }
  if (options.maxConcurrentStreams !== undefined) channel['grpc.max_concurrent_streams'] = options.maxConcurrentStreams
  return { ...channel, ...options.serverOptions }
}

/** A server with limits, health checking and reflection; add services, then bind. */
export function createGrpcServer (options: GrpcServerOptions = {}): GrpcServer {
  const channelOptions = grpcServerChannelOptions(options)
  const server = new grpc.Server({
    ...channelOptions,
    interceptors: [rejectMalformedRequests, ...(channelOptions.interceptors ?? [])]
  })
  // '' (the whole server) is SERVING from the start: a bound server answers; callers flip it for readiness.
  const health = new HealthImplementation({ '': 'SERVING' })
  health.addToServer(server)
  if (options.reflection ?? true) new ReflectionService(loadProtos().packageDefinition).addToServer(server)
  const services = new Set<string>([''])
  return {
    server,
    addService (serviceName, definition, implementation) {
      server.addService(tolerantServiceDefinition(definition), implementation)
      services.add(serviceName)
      health.setStatus(serviceName, 'SERVING')
    },
    setServingStatus (serviceName, status) {
      services.add(serviceName)
      health.setStatus(serviceName, status)
    },
    bind: async (address, credentials) => await bindGrpcServer(server, address, credentials),
    async shutdown (graceMs = DEFAULT_SHUTDOWN_GRACE_MS) {
      // Health watchers (load balancers, the other side's probes) learn first that this server is going away.
      for (const name of services) health.setStatus(name, 'NOT_SERVING')
      return await shutdownGrpcServer(server, graceMs)
    }
  }
}

/** A request message that did not parse; passed on by the tolerant deserializer instead of a throw. */
class MalformedRequest {
  constructor (readonly reason: string) {}
}

/**
 * The service definition with request deserializers that never throw: an unparsable message becomes a
 * MalformedRequest, which rejectMalformedRequests answers with INVALID_ARGUMENT before any handler sees it.
 */
export function tolerantServiceDefinition (definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const tolerant: Record<string, grpc.MethodDefinition<unknown, unknown>> = {}
  for (const [name, method] of Object.entries(definition)) {
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes)
        } catch (error) {
          return new MalformedRequest(error instanceof Error ? error.message : String(error))
        }
      }
    }
  }
  return tolerant
}

/** Server interceptor: ends a call whose request message did not parse with INVALID_ARGUMENT. */
export const rejectMalformedRequests: grpc.ServerInterceptor = (_method, call) => new grpc.ServerInterceptingCall(call, {
  start: next => {
    next({
      onReceiveMessage: (message: unknown, nextMessage: (message: unknown) => void) => {
        if (!(message instanceof MalformedRequest)) {
          nextMessage(message)
          return
        }
        const status = toGrpcStatus(new RequestInvalidError(`the request message is not valid protobuf (${message.reason})`))
        call.sendStatus({ code: status.code, details: status.details, metadata: status.metadata })
      }
    })
  }
})

/** Binds a grpc-js server and resolves with the bound port (the actual one for port 0). */
export async function bindGrpcServer (server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => {
      if (error === null) resolve(port)
      else reject(error)
    })
  })
}

/** tryShutdown, then forceShutdown after `graceMs` if calls are still running. */
export async function shutdownGrpcServer (server: grpc.Server, graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<'graceful' | 'forced'> {
  return await new Promise(resolve => {
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      server.forceShutdown()
      resolve('forced')
    }, graceMs)
    server.tryShutdown(() => {
      clearTimeout(timer)
      if (settled) return
      settled = true
      resolve('graceful')
    })
  })
}
