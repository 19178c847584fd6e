// `shadowflow aggregator`: the central aggregator. Serves goldmane.FlowCollector (agents and Felix stream to it),
// goldmane.Flows/Statistics and shadowflow.v1.Impact/Nodes until SIGTERM or SIGINT, then shuts down gracefully:
// live streams end, running queries get a few seconds, node channels close, exit 0. Configuration as the agent's:
// defaults → --config FILE → SHADOWFLOW_* → flags (config/aggregator-config.ts).
import { startAggregator, type RunningAggregator } from '../../aggregator/aggregator-server.js'
import { CONFIG_FIELDS } from '../../config/agent-config.js'
import { AGGREGATOR_CONFIG_FIELDS, loadAggregatorConfig, redactAggregatorConfig } from '../../config/aggregator-config.js'
import { createLogger } from '../../telemetry/logger.js'
import { formatFlags, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { configFlagSpecs, configFlagValues, foreignEnv } from '../config-flags.js'

/** One flag per configuration key, plus --config and --help. */
const FLAGS: readonly FlagSpec[] = configFlagSpecs(AGGREGATOR_CONFIG_FIELDS)

/** The agent's variables: one environment may configure both. */
const AGENT_ONLY_ENV = foreignEnv(AGGREGATOR_CONFIG_FIELDS, CONFIG_FIELDS)

/**
 * Runs the aggregator until `stop` resolves; resolves to the exit code. Exported for tests (no process signals;
 * `env` instead of process.env).
 */
export async function runAggregator (argv: readonly string[], io: CommandIo, stop: (aggregator: RunningAggregator) => Promise<void>,
  env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const { config: file, help, flags } = configFlagValues(argv, AGGREGATOR_CONFIG_FIELDS)
  if (help) { io.stdout.write(`Usage: shadowflow ${aggregatorCommand.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
  const config = await loadAggregatorConfig({ ...(file === undefined ? {} : { file }), env, ignoreEnv: AGENT_ONLY_ENV, flags })
  const logger = createLogger({ level: config.logLevel })
  logger.debug({ config: redactAggregatorConfig(config) }, 'configuration')
  const aggregator = await startAggregator({
    listen: config.listen,
    retentionSeconds: config.retention,
    maxFlows: config.maxFlows,
    tls: { certPath: config.tlsCert, keyPath: config.tlsKey, caPath: config.tlsCa },
    logger,
    ...(config.metricsAddr === '' ? {} : { metricsAddress: config.metricsAddr }),
    ...(config.agentServerName === '' ? {} : { agentServerName: config.agentServerName })
  })
  // One line on stdout for scripts and tests that started us on port 0.
  io.stdout.write(`shadowflow aggregator listening on ${aggregator.address} (${aggregator.tlsMode})${aggregator.metricsAddress === undefined ? '' : `, metrics on http://${aggregator.metricsAddress}/metrics`}\n`)
  await stop(aggregator)
  const how = await aggregator.close(config.shutdownGrace * 1000)
  logger.info({ how }, 'shutdown complete')
  return 0
}

export const aggregatorCommand: Command = {
  name: 'aggregator',
  summary: 'run the central aggregator: collect flow logs from the agents and answer flow, statistics and impact queries',
  usage: 'aggregator [--listen HOST:PORT] [--retention 1h] [--max-flows N] [--tls-cert PEM --tls-key PEM [--tls-ca PEM]] [--metrics-addr HOST:PORT] [--log-level LEVEL] [--config FILE]',
  flags: FLAGS,
  async run (argv, io) {
    return await runAggregator(argv, io, async () => {
      await new Promise<void>(resolve => {
        const onSignal = (): void => {
          process.off('SIGTERM', onSignal)
          process.off('SIGINT', onSignal)
          resolve()
        }
        process.on('SIGTERM', onSignal)
        process.on('SIGINT', onSignal)
      })
    })
  }
}
