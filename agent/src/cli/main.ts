// `shadowflow` entry: dispatches to a subcommand, prints user errors as one precise line (never a stack trace)
// and maps them to exit codes: 0 ok, 1 the command found problems (validation errors, differences), 2 usage or
// input error, 70 an internal bug.
import { ShadowflowError } from '../errors.js'
import type { Command, CommandIo } from './command.js'
import { closestName } from '../text/closest-name.js'
import { COMMANDS } from './commands/index.js'

function topLevelHelp (): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length))
  return [
    'shadowflow — preview Calico and Kubernetes network policy (staged policies) before it is enforced',
    '',
    'Usage: shadowflow <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `shadowflow <command> --help` for the options of one command.'
  ].join('\n') + '\n'
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli (argv: readonly string[], io: CommandIo = processIo()): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topLevelHelp())
    return name === undefined ? 2 : 0
  }
  if (name === '--version') {
    io.stdout.write('shadowflow 0.1.0\n')
    return 0
  }
  const command: Command | undefined = COMMANDS.find(c => c.name === name)
  if (command === undefined) {
    const hint = closestName(name, COMMANDS.map(c => c.name), { preferPrefix: true, maxDistance: 2 })
    io.stderr.write(`shadowflow: unknown command "${name}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; see shadowflow --help\n`)
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    if (error instanceof ShadowflowError) {
      io.stderr.write(`shadowflow ${command.name}: ${error.describe()} [${error.code}]\n`)
      return 2
    }
    io.stderr.write(`shadowflow ${command.name}: internal error, please report it: ${(error as Error)?.stack ?? String(error)}\n`)
    return 70
  }
}

function processIo (): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTty: process.stdout.isTTY === true }
}
