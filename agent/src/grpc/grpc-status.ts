// The one place that turns errors into gRPC statuses, and the handler wrappers that apply it, so a handler that
// throws (or rejects) answers with a status and the server keeps serving. ShadowflowError codes map through
// STATUS_BY_ERROR_CODE and keep their message (written for users) plus the code in trailing metadata; a gRPC
// status from a downstream call passes through; anything else is INTERNAL with a fixed message, because its
// message and stack may expose internals — the onError hook lets the caller log the real error.
import * as grpc from '@grpc/grpc-js'
import { ShadowflowError } from '../errors.js'

/** Trailing-metadata key that carries the ShadowflowError code of a failed call. */
export const ERROR_CODE_METADATA_KEY = 'shadowflow-error-code'

/** ShadowflowError code → gRPC status; codes not listed become INTERNAL. */
export const STATUS_BY_ERROR_CODE: Readonly<Record<string, grpc.status>> = Object.freeze({
  ERR_REQUEST_INVALID: grpc.status.INVALID_ARGUMENT,
  ERR_SELECTOR_SYNTAX: grpc.status.INVALID_ARGUMENT,
  ERR_RESOURCE_INVALID: grpc.status.INVALID_ARGUMENT,
  ERR_USAGE: grpc.status.INVALID_ARGUMENT,
  ERR_CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  ERR_TAP_SOURCE: grpc.status.INVALID_ARGUMENT,
  ERR_UNKNOWN_ENDPOINT: grpc.status.NOT_FOUND,
  ERR_UNKNOWN_NODE: grpc.status.NOT_FOUND,
  ERR_OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  ERR_UNAVAILABLE: grpc.status.UNAVAILABLE,
  ERR_TAP_OPEN: grpc.status.UNAVAILABLE,
  ERR_TAP_PERMISSION: grpc.status.FAILED_PRECONDITION,
  ERR_TAP_NO_SUCH_INTERFACE: grpc.status.FAILED_PRECONDITION,
  ERR_TLS_CONFIG: grpc.status.FAILED_PRECONDITION,
  ERR_ADDON_MISSING: grpc.status.FAILED_PRECONDITION,
  ERR_ADDON_LAYOUT: grpc.status.FAILED_PRECONDITION
})

/** A status to send: code, details and trailing metadata. */
export interface GrpcStatus {
  readonly code: grpc.status
  readonly details: string
  readonly metadata: grpc.Metadata
}

/** Options shared by the handler wrappers. */
export interface HandlerOptions {
  /** Called once per failed call with the original error and the status sent (log it here). */
  onError?: (error: unknown, status: GrpcStatus, method: string) => void
}

/** The details sent for errors that are not ours: nothing from the error itself reaches the client. */
export const INTERNAL_ERROR_DETAILS = 'internal error (see the server log)'

/** The gRPC status for any thrown value. */
export function toGrpcStatus (error: unknown): GrpcStatus {
  const metadata = new grpc.Metadata()
  if (error instanceof ShadowflowError) {
    metadata.set(ERROR_CODE_METADATA_KEY, error.code)
    return {
      code: STATUS_BY_ERROR_CODE[error.code] ?? grpc.status.INTERNAL,
      details: `${error.describe()} [${error.code}]`,
      metadata
    }
  }
  if (isGrpcStatusLike(error)) {
    // A status from a downstream call (e.g. the fan-out to a node) keeps its code: UNAVAILABLE stays retryable.
    return { code: error.code, details: error.details, metadata }
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return { code: grpc.status.CANCELLED, details: 'cancelled', metadata }
  }
  return { code: grpc.status.INTERNAL, details: INTERNAL_ERROR_DETAILS, metadata }
}

/** The ShadowflowError code a failed call's trailing metadata carries, if any (for clients). */
export function errorCodeOf (error: { metadata?: grpc.Metadata }): string | undefined {
  const value = error.metadata?.get(ERROR_CODE_METADATA_KEY)[0]
  return typeof value === 'string' ? value : undefined
}

/** The status constant's name (`INVALID_ARGUMENT`) for messages and metrics labels. */
export function grpcStatusName (code: number): string {
  return grpc.status[code] ?? `STATUS_${code}`
}

function isGrpcStatusLike (error: unknown): error is { code: grpc.status, details: string } {
  if (typeof error !== 'object' || error === null) return false
  const { code, details } = error as { code?: unknown, details?: unknown }
  return typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16 && typeof details === 'string'
}

function report (options: HandlerOptions, error: unknown, method: string): GrpcStatus {
  const status = toGrpcStatus(error)
  try {
    options.onError?.(error, status, method)
  } catch {
    // A failing log hook must not turn a status into a crash.
  }
  return status
}

/** Wraps a unary handler: its return value is the response; a throw or rejection becomes a status. */
export function wrapUnary<Req, Res> (
  handler: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  options: HandlerOptions = {}
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(async () => await handler(call))
      .then(response => { callback(null, response) }, (error: unknown) => {
        const status = report(options, error, call.getPath())
        callback({ code: status.code, details: status.details, metadata: status.metadata })
      })
  }
}

/** Wraps a client-streaming handler the same way. */
export function wrapClientStream<Req, Res> (
  handler: (call: grpc.ServerReadableStream<Req, Res>) => Promise<Res> | Res,
  options: HandlerOptions = {}
): grpc.handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(async () => await handler(call))
      .then(response => { callback(null, response) }, (error: unknown) => {
        const status = report(options, error, call.getPath())
        callback({ code: status.code, details: status.details, metadata: status.metadata })
      })
  }
}

// For writable streams, emitting 'error' with a status object is grpc-js's way to end the call with that
// status after the messages already written; end() afterwards would be a second finish, hence the guard.
function finishStream (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  promise: Promise<void>, options: HandlerOptions): void {
  promise.then(() => {
    if (!call.writableEnded && !call.cancelled) call.end()
  }, (error: unknown) => {
    const status = report(options, error, call.getPath())
    if (call.writableEnded || call.cancelled) return
    call.emit('error', { code: status.code, details: status.details, metadata: status.metadata })
  })
}

/**
 * Wraps a server-streaming handler. The returned promise spans the whole call: when it resolves the stream ends
 * with OK (unless the handler ended it or the client cancelled), when it rejects the stream ends with the status.
 */
export function wrapServerStream<Req, Res> (
  handler: (call: grpc.ServerWritableStream<Req, Res>) => Promise<void> | void,
  options: HandlerOptions = {}
): grpc.handleServerStreamingCall<Req, Res> {
  return call => {
    finishStream(call as grpc.ServerWritableStream<unknown, unknown>, Promise.resolve().then(async () => { await handler(call) }), options)
  }
}

/** Wraps a bidirectional-streaming handler; same contract as wrapServerStream. */
export function wrapBidiStream<Req, Res> (
  handler: (call: grpc.ServerDuplexStream<Req, Res>) => Promise<void> | void,
  options: HandlerOptions = {}
): grpc.handleBidiStreamingCall<Req, Res> {
  return call => {
    finishStream(call as grpc.ServerDuplexStream<unknown, unknown>, Promise.resolve().then(async () => { await handler(call) }), options)
  }
}

/**
 * Writes one message and waits while the stream's buffer is full, so a slow client slows the producer instead
 * of growing memory. Resolves true when the caller may write again, false when the call was cancelled or ended
 * (stop producing then).
 */
export async function writeWithBackpressure<Res> (
  call: grpc.ServerWritableStream<unknown, Res> | grpc.ServerDuplexStream<unknown, Res>,
  message: Res
): Promise<boolean> {
  if (call.cancelled || call.writableEnded || call.destroyed) return false
  if (call.write(message)) return true
  return await new Promise<boolean>(resolve => {
    const done = (ok: boolean): void => {
      call.off('drain', onDrain)
      call.off('cancelled', onStop)
      call.off('close', onStop)
      call.off('error', onStop)
      resolve(ok)
    }
    const onDrain = (): void => { done(!call.cancelled) }
    const onStop = (): void => { done(false) }
    call.on('drain', onDrain)
    call.on('cancelled', onStop)
    call.on('close', onStop)
    call.on('error', onStop)
  })
}
