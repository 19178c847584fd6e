// The registry of subcommands, in the order `shadowflow --help` lists them.
import type { Command } from '../command.js'

export const COMMANDS: readonly Command[] = []
