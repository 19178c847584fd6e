// The command-line layer of a configuration (config-layers.ts): one flag per key — booleans as --KEY or --no-KEY,
// whichever changes the default — plus --config FILE and --help, and the flag values by key.
import { envName, type ConfigField } from '../config/config-layers.js'
import { HELP_FLAG, booleanFlag, listFlag, parseArgs, stringFlag, type FlagSpec } from './args.js'
import { UsageError } from '../errors.js'

/** The flags of a command configured by `fields` (each help names its SHADOWFLOW_* variable). */
export function configFlagSpecs<C> (fields: ReadonlyArray<ConfigField<C>>): readonly FlagSpec[] {
  return [
    { name: 'config', type: 'string', valueName: 'FILE', help: 'YAML configuration file (keys as in the README\'s table; SHADOWFLOW_CONFIG also names it)' },
    ...fields.map((f): FlagSpec => f.kind.type === 'bool'
      ? (f.default() === true
          ? { name: `no-${f.flag}`, type: 'boolean', help: `do not ${f.help} [${envName(f.key)}]` }
          : { name: f.flag, type: 'boolean', help: `${f.help} [${envName(f.key)}]` })
      : {
          name: f.flag,
          ...(f.short === undefined ? {} : { short: f.short }),
          type: 'string',
          ...(f.kind.type === 'list' ? { multiple: true } : {}),
          valueName: valueNameOf(f),
          help: `${f.help} [${envName(f.key)}]`
        }),
    HELP_FLAG
  ]
}

function valueNameOf<C> (f: ConfigField<C>): string {
  switch (f.kind.type) {
    case 'int': return 'N'
    case 'duration': return 'DURATION'
    case 'address': return 'HOST:PORT'
    case 'enum': return f.kind.values.join('|')
    default: return 'VALUE'
  }
}

/** What the command line says: --config, --help, and flag values by configuration key. */
export interface ConfigFlagValues<C> {
  readonly config: string | undefined
  readonly help: boolean
  readonly flags: Partial<Record<keyof C, string | readonly string[] | boolean>>
}

/** Parses `argv` against configFlagSpecs(fields); no positional arguments. */
export function configFlagValues<C> (argv: readonly string[], fields: ReadonlyArray<ConfigField<C>>): ConfigFlagValues<C> {
  const args = parseArgs(argv, configFlagSpecs(fields))
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0] ?? ''}"`)
  const flags: Partial<Record<keyof C, string | readonly string[] | boolean>> = {}
  for (const f of fields) {
    // A boolean that defaults to true is turned off by --no-KEY, one that defaults to false turned on by --KEY.
    if (f.kind.type === 'bool') { const on = f.default() === true; if (booleanFlag(args, on ? `no-${f.flag}` : f.flag)) flags[f.key] = !on; continue }
    if (f.kind.type === 'list') { const list = listFlag(args, f.flag); if (list.length > 0) flags[f.key] = list; continue }
    const value = stringFlag(args, f.flag)
    if (value !== undefined) flags[f.key] = value
  }
  return { config: stringFlag(args, 'config'), help: booleanFlag(args, 'help'), flags }
}

/** The SHADOWFLOW_* variables of `other` commands' keys that `own` does not have (left alone, not rejected). */
export function foreignEnv (own: ReadonlyArray<{ readonly key: string }>, ...other: Array<ReadonlyArray<{ readonly key: string }>>): ReadonlySet<string> {
  const mine = new Set(own.map(f => envName(f.key)))
  return new Set(other.flat().map(f => envName(f.key)).filter(name => !mine.has(name)))
}
