// `shadowflow agent`: the node agent daemon. Configuration: defaults → --config FILE → SHADOWFLOW_* → flags.
// Runs until SIGTERM or SIGINT, then stops capture, flushes the current interval, waits for the aggregator's
// receipts up to --flush-deadline and exits 0. A capture-file source that ends is flushed; the agent keeps
// serving queries (NodeFlows, debug HTTP) until it is signalled.
import { CONFIG_FIELDS, envName, loadAgentConfig, type AgentConfig } from '../../config/agent-config.js'
import { NodeAgent } from '../../agent/node-agent.js'
import { createLogger } from '../../telemetry/logger.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command } from '../command.js'
import { UsageError } from '../../errors.js'

/** The flags: one per configuration key (booleans as --no-KEY), plus --config and --help. */
export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'config', type: 'string', valueName: 'FILE', help: 'YAML configuration file (keys as in the README\'s table; SHADOWFLOW_CONFIG also names it)' },
  ...CONFIG_FIELDS.map((f): FlagSpec => f.kind.type === 'bool'
    ? (f.default() === true
        ? { name: `no-${f.flag}`, type: 'boolean', help: `do not ${f.help} [${envName(f.key)}]` }
        : { name: f.flag, type: 'boolean', help: `${f.help} [${envName(f.key)}]` })
    : {
        name: f.flag,
        ...(f.short === undefined ? {} : { short: f.short }),
        type: 'string',
        ...(f.kind.type === 'list' ? { multiple: true } : {}),
        valueName: f.kind.type === 'int' ? 'N' : f.kind.type === 'address' ? 'HOST:PORT' : f.kind.type === 'enum' ? f.kind.values.join('|') : 'VALUE',
        help: `${f.help} [${envName(f.key)}]`
      }),
  HELP_FLAG
]

/** Flag values by configuration key. */
export function agentFlagValues (argv: readonly string[]): { config: string | undefined, help: boolean, flags: Partial<Record<keyof AgentConfig, string | readonly string[] | boolean>> } {
  const args = parseArgs(argv, AGENT_FLAGS)
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const flags: Partial<Record<keyof AgentConfig, string | readonly string[] | boolean>> = {}
  for (const f of CONFIG_FIELDS) {
    // A boolean that defaults to true is turned off by --no-KEY, one that defaults to false turned on by --KEY.
    if (f.kind.type === 'bool') { const on = f.default() === true; if (booleanFlag(args, on ? `no-${f.flag}` : f.flag)) flags[f.key] = !on; continue }
    if (f.kind.type === 'list') { const list = listFlag(args, f.flag); if (list.length > 0) flags[f.key] = list; continue }
    const value = stringFlag(args, f.flag)
    if (value !== undefined) flags[f.key] = value
  }
  return { config: stringFlag(args, 'config'), help: booleanFlag(args, 'help'), flags }
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the node agent: tap, evaluate in both pipelines, export flow logs, serve node queries',
  usage: 'agent --source pcap:cali*|pcap-file:PATH|synthetic:N,RATE (-f PATH | --kubernetes [--kubeconfig FILE]) [--aggregator HOST:PORT] [--config FILE]',
  flags: AGENT_FLAGS,
  async run (argv, io) {
    const { config: file, help, flags } = agentFlagValues(argv)
    if (help) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(AGENT_FLAGS)}\n`); return 0 }
    const config = await loadAgentConfig({ ...(file === undefined ? {} : { file }), env: process.env, flags })
    const logger = createLogger({ level: config.logLevel, base: { node: config.nodeName } })
    const agent = new NodeAgent(config, { logger })
    // Installed before start so that a signal during start-up still stops cleanly.
    let signalled: (signal: string) => void = () => {}
    const signal = new Promise<string>(resolve => { signalled = resolve })
    const onSignal = (name: NodeJS.Signals): void => { signalled(name) }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
    try {
      // A signal during start-up (waiting for the cluster's initial sync, say) stops at once.
      const started = agent.start().then(() => undefined)
      let early: string | undefined
      try {
        early = await Promise.race([started, signal])
      } catch (error) {
        await agent.stop()
        throw error
      }
      if (early !== undefined) {
        logger.info({ signal: early }, 'stopping during start-up')
        await agent.stop()
        await started.catch(() => {})
        return 0
      }
      const name = await signal
      logger.info({ signal: name }, 'stopping')
      const { acknowledged, lost } = await agent.stop()
      if (!acknowledged) logger.warn({ lost }, 'exiting with unacknowledged flow logs')
      return 0
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
  }
}
