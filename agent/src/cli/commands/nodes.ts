// `shadowflow nodes --server ADDR`: the agents streaming to an aggregator — connected or not, how far behind
// their newest flow is, and how many updates (and resends) they delivered.
import { connectToAggregator, toProto3Json } from '../../aggregator/aggregator-client.js'
import { UsageError } from '../../errors.js'
import { callUnary } from '../../grpc/grpc-client.js'
import { loadProtos } from '../../grpc/load-protos.js'
import type { WireNodeInfo } from '../../grpc/wire-types.js'
import { HELP_FLAG, booleanFlag, formatFlags, parseArgs, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { makeStyle, type Style } from '../format-verdicts.js'
import { AGGREGATOR_CLIENT_FLAGS, aggregatorConnectionOf, formatTable, timeoutMsOf } from './flows.js'

const FLAGS: readonly FlagSpec[] = [
  ...AGGREGATOR_CLIENT_FLAGS,
  { name: 'json', type: 'boolean', help: 'one proto3-JSON shadowflow.v1.NodeInfo per line' },
  HELP_FLAG
]

function ago (seconds: number, nowSeconds: number): string {
  if (seconds === 0) return 'never'
  const d = Math.max(0, Math.round(nowSeconds - seconds))
  return d < 120 ? `${d}s ago` : d < 7200 ? `${Math.round(d / 60)}m ago` : `${Math.round(d / 3600)}h ago`
}

/** The node table for people. */
export function formatNodes (nodes: readonly WireNodeInfo[], style: Style, nowSeconds: number): string {
  if (nodes.length === 0) return 'no node has connected to this aggregator\n'
  const rows = [['NODE', 'STATE', 'QUERY ADDRESS', 'SINCE', 'LAST UPDATE', 'LAG', 'UPDATES', 'RESENDS DROPPED']]
  for (const n of nodes) {
    rows.push([n.name, n.connected ? style.green('connected') : style.yellow('disconnected'), n.queryAddress === '' ? '-' : n.queryAddress,
      ago(n.connectedSince, nowSeconds), ago(n.lastUpdateTime, nowSeconds), n.lastUpdateTime === 0 ? '-' : `${n.lagSeconds.toFixed(1)}s`,
      String(n.updatesReceived), String(n.duplicatesDropped)])
  }
  return formatTable(rows, style)
}

/** Runs `nodes`. */
export async function runNodes (argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${nodesCommand.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0] ?? ''}"`)
  const client = await connectToAggregator(loadProtos().shadowflow.Nodes, aggregatorConnectionOf(args))
  try {
    const { nodes } = await callUnary(client, 'ListNodes', {}, { deadlineMs: timeoutMsOf(args) })
    if (booleanFlag(args, 'json')) {
      for (const n of nodes) io.stdout.write(JSON.stringify(toProto3Json('shadowflow.v1.NodeInfo', n)) + '\n')
      return 0
    }
    io.stdout.write(formatNodes(nodes, makeStyle(io.isTty), Date.now() / 1000))
    return 0
  } finally {
    client.close()
  }
}

export const nodesCommand: Command = {
  name: 'nodes',
  summary: 'the agents streaming to an aggregator: state, lag, updates',
  usage: 'nodes --server HOST:PORT [--json]',
  flags: FLAGS,
  run: runNodes
}
