// The one catalogue of shadowflow errors. Every error a user can meet carries a stable `code` (listed in the
// README); input errors say where (file:line, field path, selector column) and what was expected. External
// failures keep their `cause`. Nothing here does I/O, so `policy/` and `flows/` may import it.

/** Where in the user's input an error was found. */
export interface ErrorLocation {
  /** File path as the user gave it ("-" for standard input). */
  file?: string
  /** 1-based line in that file. */
  line?: number
  /** Field path inside the resource, e.g. `spec.ingress[0].destination.ports[1]`. */
  field?: string
  /** 1-based column inside a selector or other one-line expression. */
  column?: number
}

/** Base class of every error shadowflow raises on purpose. */
export class ShadowflowError extends Error {
  readonly code: string
  readonly location: ErrorLocation

  constructor (code: string, message: string, options: { cause?: unknown, location?: ErrorLocation } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.location = options.location ?? {}
  }

  /** `file:line: field: message`, the form printed by `validate` and the CLI. */
  describe (): string {
    const { file, line, field } = this.location
    const where = file === undefined ? '' : line === undefined ? `${file}: ` : `${file}:${line}: `
    return `${where}${field === undefined ? '' : `${field}: `}${this.message}`
  }
}

/** A selector that does not parse; `location.column` points at the offending character. */
export class SelectorSyntaxError extends ShadowflowError {
  constructor (message: string, column: number) {
    super('ERR_SELECTOR_SYNTAX', message, { location: { column } })
  }
}

/** A resource document that violates the API (unknown field, bad value, bad combination). */
export class ResourceInvalidError extends ShadowflowError {
  constructor (message: string, location: ErrorLocation) {
    super('ERR_RESOURCE_INVALID', message, { location })
  }
}

/** A file that cannot be read or is not YAML/JSON at all (binary, syntax error). */
export class ResourceFileError extends ShadowflowError {
  constructor (message: string, location: ErrorLocation, cause?: unknown) {
    super('ERR_RESOURCE_FILE', message, { location, cause })
  }
}

/** A command-line usage error: unknown flag, missing argument, bad value. */
export class UsageError extends ShadowflowError {
  constructor (message: string) {
    super('ERR_USAGE', message)
  }
}

/** A flow or endpoint reference that names nothing known (`--from ns/pod` of a pod not in the inventory). */
export class UnknownEndpointError extends ShadowflowError {
  constructor (message: string) {
    super('ERR_UNKNOWN_ENDPOINT', message)
  }
}

/** A configuration problem (defaults → file → env → flags); `message` lists every problem found. */
export class ConfigInvalidError extends ShadowflowError {
  constructor (message: string) {
    super('ERR_CONFIG_INVALID', message)
  }
}

/** The native tap could not open, read or keep capturing from its source; `code` says which way (ERR_TAP_*). */
export class TapError extends ShadowflowError {
  constructor (code: string, message: string, cause?: unknown) {
    super(code, message, { cause })
  }
}

/** The native addon is not built, or was built from a different record layout than this TypeScript. */
export class AddonError extends ShadowflowError {
  constructor (code: 'ERR_ADDON_MISSING' | 'ERR_ADDON_LAYOUT', message: string, cause?: unknown) {
    super(code, message, { cause })
  }
}

/** A gRPC request or received message that is malformed: `location.field` is the wire field path. */
export class RequestInvalidError extends ShadowflowError {
  constructor (message: string, field?: string) {
    super('ERR_REQUEST_INVALID', message, field === undefined ? {} : { location: { field } })
  }
}

/** A `--tls-cert/--tls-key/--tls-ca` file that cannot be read or used, or an incomplete combination of them. */
export class TlsConfigError extends ShadowflowError {
  constructor (message: string, file?: string, cause?: unknown) {
    super('ERR_TLS_CONFIG', message, { cause, location: file === undefined ? {} : { file } })
  }
}

/** A query names a node the aggregator does not know. */
export class UnknownNodeError extends ShadowflowError {
  constructor (message: string) {
    super('ERR_UNKNOWN_NODE', message)
  }
}

/** A server-side bound was reached (streams, followers, result size); the caller may retry later or ask less. */
export class OverloadedError extends ShadowflowError {
  constructor (message: string) {
    super('ERR_OVERLOADED', message)
  }
}

/** A service cannot answer now (starting, shutting down, a node unreachable); retrying later may work. */
export class UnavailableError extends ShadowflowError {
  constructor (message: string, cause?: unknown) {
    super('ERR_UNAVAILABLE', message, { cause })
  }
}

/** The Kubernetes API cannot be reached or configured (kubeconfig, in-cluster account), or refused a request. */
export class KubeApiError extends ShadowflowError {
  /** HTTP status of a refused request (0 when the request never got an answer). */
  readonly status: number
  constructor (code: 'ERR_KUBE_CONFIG' | 'ERR_KUBE_API', message: string, options: { status?: number, cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause })
    this.status = options.status ?? 0
  }
}

/** The catalogue, for the README and the test that keeps the two in step. */
export const ERROR_CODES: Readonly<Record<string, string>> = Object.freeze({
  ERR_SELECTOR_SYNTAX: 'a selector does not parse; the message gives the column and what was expected',
  ERR_RESOURCE_INVALID: 'a resource violates the API; the message gives file:line and the field path',
  ERR_RESOURCE_FILE: 'a file or directory cannot be read, or is not YAML/JSON',
  ERR_USAGE: 'a command-line usage error',
  ERR_UNKNOWN_ENDPOINT: 'a flow names a pod or namespace that is not in the inventory',
  ERR_CONFIG_INVALID: 'the configuration is invalid; every problem is listed',
  ERR_TAP_SOURCE: 'a tap source string (pcap:, ebpf:, pcap-file:, synthetic:) or one of its options is invalid',
  ERR_TAP_OPEN: 'the tap cannot open its source (file unreadable, capture setup failed)',
  ERR_TAP_PERMISSION: 'live capture was refused; the message names the missing capability (CAP_NET_RAW, CAP_NET_ADMIN)',
  ERR_TAP_NO_SUCH_INTERFACE: 'live capture names an interface that does not exist',
  ERR_TAP_FILTER: 'the BPF capture filter does not compile',
  ERR_TAP_NOT_A_CAPTURE: 'the file is not a pcap or pcapng capture, or has an unsupported link type',
  ERR_TAP_TRUNCATED: 'the capture file is damaged; records up to the damage were kept and the message gives the packet number',
  ERR_EBPF_UNSUPPORTED: 'the kernel cannot run the eBPF tap (no BPF ring buffer, LRU hash map or TC classifier, or the verifier rejected it); the message names the kernel and what is missing',
  ERR_EBPF_PERMISSION: 'the eBPF tap was refused; the message names the missing capability (CAP_BPF, CAP_NET_ADMIN; CAP_SYS_ADMIN before 5.8) and how to grant it',
  ERR_EBPF_LOCKDOWN: 'the kernel is locked down (/sys/kernel/security/lockdown) and refuses the eBPF tap; the message gives the mode',
  ERR_ADDON_MISSING: 'the native addon is not built; the message says which command builds it',
  ERR_ADDON_LAYOUT: 'the native addon was built for another flow-record layout version; rebuild it',
  ERR_REQUEST_INVALID: 'a gRPC request or message is malformed; the message names the field (INVALID_ARGUMENT)',
  ERR_TLS_CONFIG: 'a --tls-cert/--tls-key/--tls-ca file cannot be read or used (file and errno), or the combination is incomplete',
  ERR_UNKNOWN_NODE: 'a query names a node the aggregator does not know (NOT_FOUND)',
  ERR_OVERLOADED: 'a server limit was reached (streams, followers, result size) (RESOURCE_EXHAUSTED)',
  ERR_UNAVAILABLE: 'a service cannot answer now: starting, shutting down, or a node is unreachable (UNAVAILABLE)',
  ERR_LISTEN: 'a server (debug HTTP, node query service) cannot listen on the address given: in use, not local, or not permitted',
  ERR_KUBE_CONFIG: '--kubernetes without a usable configuration: no in-cluster service account and no readable --kubeconfig',
  ERR_KUBE_API: 'the Kubernetes API refused or failed a request (the message gives the resource and HTTP status; watches retry with backoff)'
})
