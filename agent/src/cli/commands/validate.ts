// `shadowflow validate`: lints resource files the way a CI step would — every problem in every file, each on
// one line as `file:line: field.path: message [CODE]`, then one summary line. Exit 1 when anything is wrong.
import { FILENAME_FLAG } from '../load-cluster.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { UsageError } from '../../errors.js'
import { readResourceFiles } from '../../io/read-resource-files.js'

const FLAGS: readonly FlagSpec[] = [
  FILENAME_FLAG,
  HELP_FLAG
]

const USAGE = 'validate -f PATH [-f PATH…]'

function help (): string {
  return [
    `Usage: shadowflow ${USAGE}`,
    '',
    'Checks Calico and Kubernetes resource files (YAML multi-document or JSON, `kind: List` included) against the',
    'API and prints every problem as `file:line: field: message [CODE]`, then a summary line.',
    'Exit status: 0 when every resource is valid, 1 when there are errors, 2 on a usage error.',
    '',
    'Options:',
    formatFlags(FLAGS),
    ''
  ].join('\n')
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

async function run (argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) {
    io.stdout.write(help())
    return 0
  }
  const [stray] = args.positionals
  if (stray !== undefined) throw new UsageError(`unexpected argument "${stray}" (did you mean -f ${stray}?)`)
  const paths = listFlag(args, 'filename')
  if (paths.length === 0) throw new UsageError('validate needs at least one -f PATH')

  const { resources, errors } = await readResourceFiles(paths, io.stdin)
  for (const error of errors) io.stdout.write(`${error.describe()} [${error.code}]\n`)
  if (errors.length === 0) {
    io.stdout.write(`${plural(resources.length, 'resource')} OK\n`)
    return 0
  }
  // An error without a file (none expected from the reader) still counts as coming from one input.
  const files = new Set(errors.map(e => e.location.file ?? '<input>'))
  io.stdout.write(`${plural(errors.length, 'error')} in ${plural(files.size, 'file')}\n`)
  return 1
}

/** `shadowflow validate`: lint resource files, every error with file:line, exit 1 on errors. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'check resource files against the API and list every error with file:line',
  usage: USAGE,
  flags: FLAGS,
  run
}
