// `shadowflow preview --server ADDR`: the impact of the staged policies on the traffic a live aggregator has
// seen — a summary, then per staged policy the flows it would newly deny or allow, with counts and examples.
// `--json` prints the shadowflow.v1.ImpactReport as proto3 JSON.
import { connectToAggregator, parseSince, toProto3Json } from '../../aggregator/aggregator-client.js'
import { UsageError } from '../../errors.js'
import { pendingAction } from '../../flows/flow-filter.js'
import { flowLogFromWire } from '../../grpc/goldmane-mapping.js'
import { callUnary } from '../../grpc/grpc-client.js'
import { loadProtos } from '../../grpc/load-protos.js'
import type { WireImpactReport, WireImpactTotals } from '../../grpc/wire-types.js'
import { HELP_FLAG, booleanFlag, formatFlags, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { makeStyle, type Style } from '../format-verdicts.js'
import { AGGREGATOR_CLIENT_FLAGS, aggregatorConnectionOf, filtersOf, formatTable, timeoutMsOf } from './flows.js'

const FLAGS: readonly FlagSpec[] = [
  ...AGGREGATOR_CLIENT_FLAGS,
  { name: 'since', type: 'string', valueName: 'WHEN', help: 'start: -15m, 1h (ago), Unix seconds or an ISO date (default: the whole retention window)' },
  { name: 'examples', type: 'string', valueName: 'N', help: 'example flows per policy (default 5, at most 100)' },
  { name: 'port', type: 'string', multiple: true, valueName: 'N', help: 'only flows to this destination port' },
  { name: 'protocol', type: 'string', multiple: true, valueName: 'PROTO', help: 'only flows of this protocol' },
  { name: 'json', type: 'boolean', help: 'print the report as proto3 JSON (shadowflow.v1.ImpactReport)' },
  HELP_FLAG
]

function endpoint (ns: string, name: string): string { return ns === '' ? name : `${ns}/${name}` }

function totals (t: WireImpactTotals | null | undefined): WireImpactTotals {
  return t ?? { flows: 0, connections: 0, bytes: 0, packets: 0, newlyAllowed: 0, newlyDenied: 0 }
}

function when (seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')
}

/** The report for people. */
export function formatImpactReport (report: WireImpactReport, style: Style): string {
  const c = totals(report.considered)
  const ch = totals(report.changed)
  const lines = [
    `${style.bold('Traffic')}  ${when(report.startTimeGte)} – ${when(report.startTimeLt)}: ${c.flows} flows (per key and reporter), ${c.connections} connections, ${c.packets} packets, ${c.bytes} bytes`,
    `${style.bold('Impact')}   ${ch.flows === 0
      ? style.green('no flow would change')
      : `${style.yellow(`${ch.flows} flow${ch.flows === 1 ? '' : 's'} would change`)} (${ch.connections} connections, ${ch.bytes} bytes): ${style.red(`${ch.newlyDenied} newly denied`)}, ${style.green(`${ch.newlyAllowed} newly allowed`)}`}`
  ]
  if (report.groups.length === 0) return lines.join('\n') + '\n'
  lines.push('', style.bold('By policy'))
  const rows = [['POLICY', 'KIND', 'TIER', 'FLOWS', 'NEWLY DENIED', 'NEWLY ALLOWED', 'CONNECTIONS', 'BYTES']]
  for (const g of report.groups) {
    const p = g.policy
    const t = totals(g.totals)
    rows.push([p === null || p === undefined ? '(unattributed)' : endpoint(p.namespace, p.name), p?.kind ?? '', p?.tier ?? '',
      String(t.flows), String(t.newlyDenied), String(t.newlyAllowed), String(t.connections), String(t.bytes)])
  }
  lines.push(formatTable(rows, style).trimEnd())
  for (const g of report.groups) {
    if (g.examples.length === 0) continue
    const p = g.policy
    const t = totals(g.totals)
    lines.push('', `${style.bold(p === null || p === undefined ? '(unattributed)' : `${p.kind} ${endpoint(p.namespace, p.name)}`)}: ${style.red(`${t.newlyDenied} newly denied`)}, ${style.green(`${t.newlyAllowed} newly allowed`)}${g.examples.length < t.flows ? style.dim(` (largest ${g.examples.length} of ${t.flows} shown)`) : ''}`)
    const examples = [['SOURCE', 'DESTINATION', 'PORT', 'REPORTER', 'ENFORCED', 'PENDING', 'CONNECTIONS', 'BYTES']]
    for (const wire of g.examples) {
      const f = flowLogFromWire(wire)
      const k = f.key
      const pending = pendingAction(k)
      examples.push([endpoint(k.sourceNamespace, k.sourceName), endpoint(k.destNamespace, k.destName), `${k.destPort}/${k.proto}`, k.reporter,
        k.action, pending === 'Deny' ? style.red(pending) : style.green(pending), String(f.connectionsStarted), String(f.bytesIn + f.bytesOut)])
    }
    lines.push(formatTable(examples, style).trimEnd().split('\n').map(l => `  ${l}`).join('\n'))
  }
  return lines.join('\n') + '\n'
}

/** Runs `preview`. */
export async function runPreview (argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${previewCommand.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0] ?? ''}"`)
  const examplesText = stringFlag(args, 'examples') ?? '5'
  if (!/^\d+$/.test(examplesText) || Number(examplesText) > 100) throw new UsageError(`--examples "${examplesText}" is not a number from 0 to 100`)
  const since = stringFlag(args, 'since')
  const [filter] = filtersOf(args)
  const client = await connectToAggregator(loadProtos().shadowflow.Impact, aggregatorConnectionOf(args))
  try {
    const report = await callUnary(client, 'GetImpact', {
      startTimeGte: since === undefined ? 0 : parseSince(since),
      startTimeLt: 0,
      filter: filter ?? null,
      // 0 asks for the server's default; --examples 0 means none, which the table then omits.
      maxExamples: Math.max(1, Number(examplesText))
    }, { deadlineMs: timeoutMsOf(args) })
    if (Number(examplesText) === 0) for (const g of report.groups) g.examples = []
    if (booleanFlag(args, 'json')) {
      io.stdout.write(JSON.stringify(toProto3Json('shadowflow.v1.ImpactReport', report)) + '\n')
      return 0
    }
    io.stdout.write(formatImpactReport(report, makeStyle(io.isTty)))
    return 0
  } finally {
    client.close()
  }
}

export const previewCommand: Command = {
  name: 'preview',
  summary: 'what the staged policies would change, from the traffic a live aggregator has seen',
  usage: 'preview --server HOST:PORT [--since -1h] [--examples N] [--json]',
  flags: FLAGS,
  run: runPreview
}
