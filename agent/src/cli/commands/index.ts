// The registry of subcommands, in the order `shadowflow --help` lists them.
import type { Command } from '../command.js'
import { explainCommand } from './explain.js'
import { matrixCommand } from './matrix.js'
import { promoteCommand } from './promote.js'
import { selectorCommand } from './selector.js'
import { validateCommand } from './validate.js'

export const COMMANDS: readonly Command[] = [validateCommand, explainCommand, matrixCommand, selectorCommand, promoteCommand]
