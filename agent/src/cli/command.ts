// The shape every subcommand has, and the streams it writes to (injected, so tests capture output).
import type { FlagSpec } from './args.js'

/** Where a command reads and writes; the real process streams in production, buffers in tests. */
export interface CommandIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
  /** True when stdout is a terminal (colour and tables); false for pipes. */
  isTty: boolean
}

/** One `shadowflow <name>` subcommand. */
export interface Command {
  name: string
  /** One line for the top-level `--help`. */
  summary: string
  /** Usage line(s) after `shadowflow `, e.g. `explain -f PATH --from A --to B`. */
  usage: string
  flags: readonly FlagSpec[]
  /** Runs the command; resolves to the process exit code. Throws ShadowflowError for user errors. */
  run: (argv: readonly string[], io: CommandIo) => Promise<number>
}
