// Configuration of a long-running command (the agent, the aggregator): defaults → file (`--config FILE`, YAML) →
// `SHADOWFLOW_*` environment → command-line flags, each layer overriding the one before. Every problem of every
// layer is collected and reported together in one ERR_CONFIG_INVALID (with file:line for the file); unknown keys
// and variables are rejected with a "did you mean". The result is frozen. A command's schema names its keys and
// the checks across keys; this module knows nothing of either command.
import { readFile } from 'node:fs/promises'
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml'
import { ConfigInvalidError } from '../errors.js'
import { closestName as closestNameIn } from '../text/closest-name.js'

/** Config keys, variables and enum values: case aside, a unique prefix wins. */
function closestName (word: string, candidates: readonly string[]): string | undefined {
  return closestNameIn(word, candidates, { ignoreCase: true, preferPrefix: true })
}

/** What a key holds, and how its text (flags, environment) or YAML value is checked and converted. */
export type FieldKind =
  /** `numbersAsText`: a YAML number is taken as its text (`listen: 7443`, a port alone). */
  | { type: 'string', required?: boolean, numbersAsText?: boolean, check?: (v: string) => string | undefined }
  | { type: 'list', required?: boolean }
  | { type: 'int', min: number, max: number, multipleOf?: number }
  /** Seconds: `90s`, `15m`, `1h30m`, `2d`, or a number of seconds. */
  | { type: 'duration', min: number, max: number, multipleOf?: number }
  | { type: 'enum', values: readonly string[] }
  | { type: 'bool' }
  | { type: 'address', allowEmpty: boolean }

/** One configuration key of config type C: its flag, variable, default and meaning (the README's tables). */
export interface ConfigField<C> {
  readonly key: keyof C & string
  /** Long flag without dashes. */
  readonly flag: string
  readonly short?: string
  readonly kind: FieldKind
  readonly default: () => C[keyof C]
  readonly help: string
  /** Shown as `(set)` by redactConfig. */
  readonly secret?: boolean
}

/** A command's configuration: its keys, and the checks that read several keys at once. */
export interface ConfigSchema<C> {
  readonly fields: ReadonlyArray<ConfigField<C>>
  /** Whether a `required` key may stay empty given the other values (the agent's -f with --kubernetes). */
  readonly requiredWaived?: (key: keyof C & string, values: ReadonlyMap<string, unknown>) => boolean
  /** Adds the problems that involve several keys. */
  readonly crossCheck?: (values: ReadonlyMap<string, unknown>, problems: string[]) => void
}

/** The configuration layers to merge; every part optional. */
export interface ConfigSources<C> {
  /** `--config FILE`. */
  file?: string
  /** Environment (only SHADOWFLOW_* variables are read; SHADOWFLOW_CONFIG names the file when no flag does). */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * SHADOWFLOW_* variables of the other commands, left alone instead of rejected as unknown: one environment
   * (a shared ConfigMap, a shell) may configure the agent and the aggregator.
   */
  ignoreEnv?: ReadonlySet<string>
  /** Flag values by config key, as the command line gave them (strings, string lists, booleans). */
  flags?: Partial<Record<keyof C, string | readonly string[] | boolean>>
  /** Overrides of the built-in defaults (a command that embeds another, tests). */
  defaults?: Partial<C>
}

/** `SHADOWFLOW_NODE_NAME` for `nodeName`. */
export function envName (key: string): string {
  return `SHADOWFLOW_${key.replace(/[A-Z]/g, c => `_${c}`).toUpperCase()}`
}

/** Environment variables read by every command without being a config key. */
const OTHER_ENV = new Set(['SHADOWFLOW_CONFIG'])

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:]+):(\d{1,5})$/

/** Checks `host:port` (`[v6]:port` for IPv6); returns a problem or undefined. */
export function checkHostPort (value: string): string | undefined {
  const m = HOST_PORT.exec(value)
  if (m === null) return `"${value}" is not host:port`
  if (Number(m[2]) > 65535) return `port ${m[2]} is above 65535`
  return undefined
}

/** Splits `host:port` (brackets removed from IPv6 hosts). */
export function splitHostPort (value: string): { host: string, port: number } {
  const i = value.lastIndexOf(':')
  const host = value.slice(0, i)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(value.slice(i + 1)) }
}

const LISTEN_ADDRESS = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):)?(\d{1,5})$/

/** A listen address, `host:port` or a port alone (host undefined); undefined when it is neither. The port is not range-checked. */
export function parseListenAddress (value: string): { host: string | undefined, port: number } | undefined {
  const m = LISTEN_ADDRESS.exec(value.trim())
  return m === null ? undefined : { host: m[1], port: Number(m[2]) }
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 }

/** Seconds in `90s`, `15m`, `1h30m`, `2d` or `3600`; undefined when the text is not a duration. */
export function durationSeconds (text: string): number | undefined {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const parts = [...trimmed.matchAll(/(\d+)([smhd])/g)]
  if (parts.length === 0 || parts.map(p => p[0]).join('') !== trimmed) return undefined
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_SECONDS[p[2] as string] ?? 0), 0)
}

function inRange (n: number, kind: { min: number, max: number, multipleOf?: number }): string | undefined {
  if (n < kind.min || n > kind.max) return `must be between ${kind.min} and ${kind.max}, got ${n}`
  if (kind.multipleOf !== undefined && n % kind.multipleOf !== 0) return `must be a multiple of ${kind.multipleOf}, got ${n}`
  return undefined
}

function convert<C> (field: ConfigField<C>, raw: unknown, fromText: boolean): { value?: unknown, problem?: string } {
  const kind = field.kind
  switch (kind.type) {
    case 'string': {
      const text = typeof raw === 'number' && kind.numbersAsText === true && Number.isFinite(raw) ? String(raw) : raw
      if (typeof text !== 'string') return { problem: `must be a string, got ${describe(raw)}` }
      const problem = kind.check?.(text)
      return problem === undefined ? { value: text } : { problem }
    }
    case 'list': {
      if (typeof raw === 'string') return { value: raw.split(',').map(s => s.trim()).filter(s => s !== '') }
      if (Array.isArray(raw) && raw.every(x => typeof x === 'string')) return { value: [...raw] }
      return { problem: `must be a list of strings, got ${describe(raw)}` }
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && fromText && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
      if (!Number.isSafeInteger(n)) return { problem: `must be an integer, got ${describe(raw)}` }
      const problem = inRange(n, kind)
      return problem === undefined ? { value: n } : { problem }
    }
    case 'duration': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? durationSeconds(raw) ?? NaN : NaN
      if (!Number.isSafeInteger(n)) return { problem: `must be a duration (e.g. 90s, 15m, 1h30m, 2d, or seconds), got ${describe(raw)}` }
      const problem = inRange(n, kind)
      return problem === undefined ? { value: n } : { problem: `${problem} seconds` }
    }
    case 'enum': {
      if (typeof raw !== 'string' || !kind.values.includes(raw)) {
        const hint = typeof raw === 'string' ? closestName(raw, kind.values) : undefined
        return { problem: `must be one of ${kind.values.join(', ')}, got ${describe(raw)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}` }
      }
      return { value: raw }
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { value: raw }
      if (fromText && typeof raw === 'string' && /^(true|false|1|0)$/i.test(raw)) return { value: /^(true|1)$/i.test(raw) }
      return { problem: `must be true or false, got ${describe(raw)}` }
    }
    case 'address': {
      if (typeof raw !== 'string') return { problem: `must be host:port, got ${describe(raw)}` }
      if (raw === '' && kind.allowEmpty) return { value: '' }
      const problem = checkHostPort(raw)
      return problem === undefined ? { value: raw } : { problem }
    }
  }
}

function describe (value: unknown): string {
  if (typeof value === 'string') return `"${value}"`
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'a map' : String(value)
}

/** Merges the layers; throws one ConfigInvalidError listing every problem. */
export async function loadConfig<C> (schema: ConfigSchema<C>, sources: ConfigSources<C> = {}): Promise<C> {
  const fieldByKey = new Map<string, ConfigField<C>>(schema.fields.map(f => [f.key, f]))
  const fieldByEnv = new Map<string, ConfigField<C>>(schema.fields.map(f => [envName(f.key), f]))
  const problems: string[] = []
  const values = new Map<string, unknown>()
  for (const field of schema.fields) values.set(field.key, sources.defaults?.[field.key] ?? field.default())

  const env = sources.env ?? {}
  const file = sources.file ?? env.SHADOWFLOW_CONFIG
  if (file !== undefined && file !== '') await readConfigFile(file, fieldByKey, values, problems)

  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('SHADOWFLOW_') || text === undefined || OTHER_ENV.has(name)) continue
    const field = fieldByEnv.get(name)
    if (field === undefined) {
      if (sources.ignoreEnv?.has(name) === true) continue
      const hint = closestName(name, [...fieldByEnv.keys()])
      problems.push(`environment ${name}: unknown variable${hint === undefined ? '' : ` (did you mean ${hint}?)`}`)
      continue
    }
    const { value, problem } = convert(field, text, true)
    if (problem !== undefined) problems.push(`environment ${name}: ${problem}`)
    else values.set(field.key, value)
  }

  for (const [key, raw] of Object.entries(sources.flags ?? {})) {
    const field = fieldByKey.get(key)
    if (field === undefined || raw === undefined) continue
    const { value, problem } = convert(field, raw, true)
    if (problem !== undefined) problems.push(`--${field.flag}: ${problem}`)
    else values.set(field.key, value)
  }

  for (const field of schema.fields) {
    const v = values.get(field.key)
    const required = (field.kind.type === 'string' || field.kind.type === 'list') && field.kind.required === true
    if (!required || schema.requiredWaived?.(field.key, values) === true) continue
    if (v === '' || (Array.isArray(v) && v.length === 0)) {
      problems.push(`${field.key}: required (--${field.flag}, ${envName(field.key)} or "${field.key}" in the config file)`)
    }
  }
  schema.crossCheck?.(values, problems)

  if (problems.length > 0) {
    throw new ConfigInvalidError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration:\n  ${problems.join('\n  ')}`)
  }
  for (const v of values.values()) if (Array.isArray(v)) Object.freeze(v)
  return Object.freeze(Object.fromEntries(values)) as C
}

async function readConfigFile<C> (file: string, fieldByKey: ReadonlyMap<string, ConfigField<C>>, values: Map<string, unknown>, problems: string[]): Promise<void> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    problems.push(`${file}: cannot read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`)
    return
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push(`${file}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0] ?? ''}`)
    return
  }
  if (doc.contents === null) return
  if (!isMap(doc.contents)) { problems.push(`${file}:1: expected a map of settings (key: value)`); return }
  for (const pair of doc.contents.items) {
    const keyNode = pair.key
    const line = isScalar(keyNode) && keyNode.range !== undefined && keyNode.range !== null ? lineCounter.linePos(keyNode.range[0]).line : 1
    const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
    const field = fieldByKey.get(key)
    if (field === undefined) {
      const hint = closestName(key, [...fieldByKey.keys()])
      problems.push(`${file}:${line}: ${key}: unknown key${hint === undefined ? '' : ` (did you mean ${hint}?)`}`)
      continue
    }
    const raw: unknown = (pair.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? (isScalar(pair.value) ? pair.value.value : pair.value)
    const { value, problem } = convert(field, raw, false)
    if (problem !== undefined) problems.push(`${file}:${line}: ${key}: ${problem}`)
    else values.set(field.key, value)
  }
}

/** The configuration as a debug endpoint or a log line shows it: secrets replaced by `(set)`. */
export function redactConfig<C> (schema: ConfigSchema<C>, config: C): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of schema.fields) {
    const v = config[field.key]
    out[field.key] = field.secret === true && v !== '' ? '(set)' : v
  }
  return out
}
