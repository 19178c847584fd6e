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

/** The catalogue, for the README and the test that keeps the two in step. */
export const ERROR_CODES: Readonly<Record<string, string>> = Object.freeze({
  ERR_SELECTOR_SYNTAX: 'a selector does not parse; the message gives the column and what was expected',
  ERR_RESOURCE_INVALID: 'a resource violates the API; the message gives file:line and the field path',
  ERR_RESOURCE_FILE: 'a file or directory cannot be read, or is not YAML/JSON',
  ERR_USAGE: 'a command-line usage error',
  ERR_UNKNOWN_ENDPOINT: 'a flow names a pod or namespace that is not in the inventory',
  ERR_CONFIG_INVALID: 'the configuration is invalid; every problem is listed'
})
