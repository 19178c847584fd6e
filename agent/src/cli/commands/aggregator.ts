// `shadowflow aggregator`: the central aggregator. Serves goldmane.FlowCollector (agents and Felix stream to it),
// goldmane.Flows/Statistics and shadowflow.v1.Impact/Nodes until SIGTERM or SIGINT, then shuts down gracefully:
// live streams end, running queries get a few seconds, node channels close, exit 0.
import { startAggregator, type RunningAggregator } from '../../aggregator/aggregator-server.js'
import { parseDurationSeconds } from '../../aggregator/aggregator-client.js'
import { UsageError } from '../../errors.js'
import { createLogger } from '../../telemetry/logger.js'
import { HELP_FLAG, booleanFlag, formatFlags, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'

const FLAGS: readonly FlagSpec[] = [
  { name: 'listen', type: 'string', valueName: 'HOST:PORT', help: 'gRPC address to serve on (default 127.0.0.1:7443)' },
  { name: 'retention', type: 'string', valueName: 'DURATION', help: 'how long flows are kept, a multiple of 15 s (default 1h)' },
  { name: 'max-flows', type: 'string', valueName: 'N', help: 'bound of stored flows (per key and 15 s bucket); the oldest buckets are evicted beyond it (default 1000000)' },
  { name: 'tls-cert', type: 'string', valueName: 'PEM', help: 'server certificate (TLS)' },
  { name: 'tls-key', type: 'string', valueName: 'PEM', help: 'server private key (TLS)' },
  { name: 'tls-ca', type: 'string', valueName: 'PEM', help: 'CA that client certificates must be signed by (mutual TLS); also verifies agents on fan-out' },
  { name: 'agent-server-name', type: 'string', valueName: 'NAME', help: 'TLS: the name agent certificates are checked against on fan-out (agents are dialled by pod IP; e.g. shadowflow-agent)' },
  { name: 'metrics-addr', type: 'string', valueName: 'HOST:PORT', help: 'serve Prometheus /metrics here (a port alone binds 127.0.0.1; default off)' },
  { name: 'shutdown-grace', type: 'string', valueName: 'DURATION', help: 'how long running queries may finish on SIGTERM (default 5s)' },
  { name: 'log-level', type: 'string', valueName: 'LEVEL', help: 'trace, debug, info (default), warn, error, fatal or silent' },
  HELP_FLAG
]

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])

function positiveInteger (text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${flag} "${text}" is not a positive integer`)
  return Number(text)
}

/** Runs the aggregator until `stop` resolves; resolves to the exit code. Exported for tests (no process signals). */
export async function runAggregator (argv: readonly string[], io: CommandIo, stop: (aggregator: RunningAggregator) => Promise<void>): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${aggregatorCommand.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0] ?? ''}"`)
  const retentionSeconds = parseDurationSeconds(stringFlag(args, 'retention') ?? '1h', '--retention')
  if (retentionSeconds < 15 || retentionSeconds % 15 !== 0) throw new UsageError(`--retention must be a multiple of 15 seconds (at least 15s), got ${retentionSeconds}s`)
  const graceMs = parseDurationSeconds(stringFlag(args, 'shutdown-grace') ?? '5s', '--shutdown-grace') * 1000
  const level = stringFlag(args, 'log-level') ?? 'info'
  if (!LOG_LEVELS.has(level)) throw new UsageError(`--log-level "${level}" is not one of ${[...LOG_LEVELS].join(', ')}`)
  const logger = createLogger({ level })
  const metricsAddress = stringFlag(args, 'metrics-addr')
  const agentServerName = stringFlag(args, 'agent-server-name')
  const aggregator = await startAggregator({
    listen: stringFlag(args, 'listen') ?? '127.0.0.1:7443',
    retentionSeconds,
    maxFlows: positiveInteger(stringFlag(args, 'max-flows'), 'max-flows', 1_000_000),
    tls: { certPath: stringFlag(args, 'tls-cert'), keyPath: stringFlag(args, 'tls-key'), caPath: stringFlag(args, 'tls-ca') },
    logger,
    ...(metricsAddress === undefined ? {} : { metricsAddress }),
    ...(agentServerName === undefined ? {} : { agentServerName })
  })
  // One line on stdout for scripts and tests that started us on port 0.
  io.stdout.write(`shadowflow aggregator listening on ${aggregator.address} (${aggregator.tlsMode})${aggregator.metricsAddress === undefined ? '' : `, metrics on http://${aggregator.metricsAddress}/metrics`}\n`)
  await stop(aggregator)
  const how = await aggregator.close(graceMs)
  logger.info({ how }, 'shutdown complete')
  return 0
}

export const aggregatorCommand: Command = {
  name: 'aggregator',
  summary: 'run the central aggregator: collect flow logs from the agents and answer flow, statistics and impact queries',
  usage: 'aggregator [--listen HOST:PORT] [--retention 1h] [--max-flows N] [--tls-cert PEM --tls-key PEM [--tls-ca PEM]] [--metrics-addr HOST:PORT] [--log-level LEVEL]',
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
