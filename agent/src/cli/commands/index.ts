// The registry of subcommands, in the order `shadowflow --help` lists them: offline policy tools first, then
// the long-running processes, then the clients of a running aggregator.
import type { Command } from '../command.js'
import { agentCommand } from './agent.js'
import { aggregatorCommand } from './aggregator.js'
import { explainCommand } from './explain.js'
import { flowsCommand } from './flows.js'
import { matrixCommand } from './matrix.js'
import { nodesCommand } from './nodes.js'
import { previewCommand } from './preview.js'
import { promoteCommand } from './promote.js'
import { replayCommand } from './replay.js'
import { selectorCommand } from './selector.js'
import { validateCommand } from './validate.js'

export const COMMANDS: readonly Command[] = [
  validateCommand, explainCommand, matrixCommand, selectorCommand, promoteCommand, replayCommand,
  agentCommand, aggregatorCommand,
  flowsCommand, previewCommand, nodesCommand
]
