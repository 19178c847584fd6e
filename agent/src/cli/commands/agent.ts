// `shadowflow agent`: the node agent daemon. Configuration: defaults → --config FILE → SHADOWFLOW_* → flags.
// Runs until SIGTERM or SIGINT, then stops capture, flushes the current interval, waits for the aggregator's
// receipts up to --flush-deadline and exits 0. A capture-file source that ends is flushed; the agent keeps
// serving queries (NodeFlows, debug HTTP) until it is signalled.
import { AGGREGATOR_CONFIG_FIELDS } from '../../config/aggregator-config.js'
import { CONFIG_FIELDS, loadAgentConfig, type AgentConfig } from '../../config/agent-config.js'
import { NodeAgent } from '../../agent/node-agent.js'
import { createLogger } from '../../telemetry/logger.js'
import { formatFlags, type FlagSpec } from '../args.js'
import type { Command } from '../command.js'
import { configFlagSpecs, configFlagValues, foreignEnv, type ConfigFlagValues } from '../config-flags.js'

/** The flags: one per configuration key (booleans as --no-KEY), plus --config and --help. */
export const AGENT_FLAGS: readonly FlagSpec[] = configFlagSpecs(CONFIG_FIELDS)

/** The aggregator's variables: one environment may configure both. */
const AGGREGATOR_ONLY_ENV = foreignEnv(CONFIG_FIELDS, AGGREGATOR_CONFIG_FIELDS)

/** Flag values by configuration key. */
export function agentFlagValues (argv: readonly string[]): ConfigFlagValues<AgentConfig> {
  return configFlagValues(argv, CONFIG_FIELDS)
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the node agent: tap, evaluate in both pipelines, export flow logs, serve node queries',
  usage: 'agent --source pcap:cali*|pcap-file:PATH|synthetic:N,RATE (-f PATH | --kubernetes [--kubeconfig FILE]) [--aggregator HOST:PORT] [--config FILE]',
  flags: AGENT_FLAGS,
  async run (argv, io) {
    const { config: file, help, flags } = agentFlagValues(argv)
    if (help) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(AGENT_FLAGS)}\n`); return 0 }
    const config = await loadAgentConfig({ ...(file === undefined ? {} : { file }), env: process.env, ignoreEnv: AGGREGATOR_ONLY_ENV, flags })
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
