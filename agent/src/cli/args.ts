// A small, strict argument parser for the subcommands: every flag is declared, unknown flags are usage errors
// with a "did you mean", values are checked where they are read. (node:util parseArgs has no repeatable
// string option with a "did you mean", and its errors are not ours.)
import { UsageError } from '../errors.js'
import { closestName } from '../text/closest-name.js'

/** How one flag is spelled and whether it takes a value or repeats. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `protocol`. */
  name: string
  /** Optional one-letter alias, e.g. `f`. */
  short?: string
  /** `string` takes a value, `boolean` does not. */
  type: 'string' | 'boolean'
  /** A repeatable string flag collects every value. */
  multiple?: boolean
  /** One line for `--help`. */
  help: string
  /** Placeholder for the value in `--help`, e.g. `PATH`. */
  valueName?: string
}

/** The `-h, --help` flag every command takes. */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'boolean', help: 'show this help' }

/** Parsed command line: flag values by long name, and the positional arguments. */
export interface ParsedArgs {
  flags: Map<string, string | boolean | string[]>
  positionals: string[]
}

/** Parses `argv` against `specs`; throws UsageError naming the bad flag. `--` ends flag parsing. */
export function parseArgs (argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byLong = new Map(specs.map(s => [s.name, s]))
  const byShort = new Map(specs.filter(s => s.short !== undefined).map(s => [s.short as string, s]))
  const flags = new Map<string, string | boolean | string[]>()
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') { positionals.push(...argv.slice(i + 1)); break }
    if (arg === '-' || !arg.startsWith('-')) { positionals.push(arg); continue }
    const long = arg.startsWith('--')
    const eq = arg.indexOf('=')
    const key = long ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, 2)
    const spec = long ? byLong.get(key) : byShort.get(key)
    if (spec === undefined) {
      const hint = closestName(key, [...byLong.keys()], { preferPrefix: true })
      throw new UsageError(`unknown option ${long ? '--' : '-'}${key}${hint === undefined ? '' : ` (did you mean --${hint}?)`}`)
    }
    if (spec.type === 'boolean') {
      if (long && eq > 0) throw new UsageError(`option --${spec.name} takes no value`)
      flags.set(spec.name, true)
      continue
    }
    let value: string | undefined
    if (long && eq > 0) value = arg.slice(eq + 1)
    else if (!long && arg.length > 2) value = arg.slice(2)
    else { value = argv[i + 1]; i++ }
    if (value === undefined) throw new UsageError(`option --${spec.name} needs a value${spec.valueName === undefined ? '' : ` (${spec.valueName})`}`)
    if (spec.multiple === true) {
      const list = (flags.get(spec.name) as string[] | undefined) ?? []
      list.push(value)
      flags.set(spec.name, list)
    } else {
      if (flags.has(spec.name)) throw new UsageError(`option --${spec.name} given twice`)
      flags.set(spec.name, value)
    }
  }
  return { flags, positionals }
}

/** Typed accessors over ParsedArgs. */
export function stringFlag (args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name)
  return typeof v === 'string' ? v : undefined
}

export function listFlag (args: ParsedArgs, name: string): string[] {
  const v = args.flags.get(name)
  return Array.isArray(v) ? v : []
}

export function booleanFlag (args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) === true
}

/** Renders the flag table of a command's `--help`. */
export function formatFlags (specs: readonly FlagSpec[]): string {
  const rows = specs.map(s => {
    const left = `${s.short === undefined ? '    ' : `-${s.short}, `}--${s.name}${s.type === 'string' ? ` ${s.valueName ?? 'VALUE'}` : ''}`
    return [left, s.help + (s.multiple === true ? ' (repeatable)' : '')] as const
  })
  const width = Math.max(...rows.map(r => r[0].length))
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`).join('\n')
}
