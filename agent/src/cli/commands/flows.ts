// `shadowflow flows --server ADDR`: the aggregator's flows (goldmane.Flows List, or Stream with --follow), as a
// table for people or one proto3-JSON goldmane.Flow per line with --json. --namespace and --name match either
// end of a flow: Goldmane's filter ANDs its fields, so the union is asked as two queries, merged by flow id.
import type * as grpc from '@grpc/grpc-js'
import { connectToAggregator, parseSince, toProto3Json, type AggregatorConnection } from '../../aggregator/aggregator-client.js'
import { UsageError } from '../../errors.js'
import { isPendingChanged, pendingAction } from '../../flows/flow-filter.js'
import { flowLogFromWire } from '../../grpc/goldmane-mapping.js'
import { callUnary } from '../../grpc/grpc-client.js'
import { loadProtos } from '../../grpc/load-protos.js'
import type { WireAction, WireFilter, WireFlowResult, WireStringMatch } from '../../grpc/wire-types.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec, type ParsedArgs } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { makeStyle, type Style } from '../format-verdicts.js'

/** The flags every online command shares: where the aggregator is and how to reach it. */
export const AGGREGATOR_CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: 'server', type: 'string', valueName: 'HOST:PORT', help: 'the aggregator (default 127.0.0.1:7443)' },
  { name: 'tls-ca', type: 'string', valueName: 'PEM', help: 'CA to verify the aggregator with (TLS)' },
  { name: 'tls-cert', type: 'string', valueName: 'PEM', help: 'client certificate (mutual TLS)' },
  { name: 'tls-key', type: 'string', valueName: 'PEM', help: 'client private key (mutual TLS)' },
  { name: 'timeout', type: 'string', valueName: 'SECONDS', help: 'deadline of a query (default 10)' }
]

/** The connection the shared flags describe. */
export function aggregatorConnectionOf (args: ParsedArgs): AggregatorConnection {
  return { server: stringFlag(args, 'server') ?? '127.0.0.1:7443', certPath: stringFlag(args, 'tls-cert'), keyPath: stringFlag(args, 'tls-key'), caPath: stringFlag(args, 'tls-ca') }
}

/** The query deadline from --timeout, in milliseconds. */
export function timeoutMsOf (args: ParsedArgs): number {
  const text = stringFlag(args, 'timeout') ?? '10'
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new UsageError(`--timeout "${text}" is not a positive number of seconds`)
  return Number(text) * 1000
}

const FLAGS: readonly FlagSpec[] = [
  ...AGGREGATOR_CLIENT_FLAGS,
  { name: 'namespace', short: 'n', type: 'string', multiple: true, valueName: 'NS', help: 'either end in this namespace (~text: contains)' },
  { name: 'name', type: 'string', multiple: true, valueName: 'NAME', help: 'either end named so, e.g. web-* (~text: contains)' },
  { name: 'port', type: 'string', multiple: true, valueName: 'N', help: 'destination port' },
  { name: 'protocol', type: 'string', multiple: true, valueName: 'PROTO', help: 'tcp, udp, sctp, icmp, …' },
  { name: 'action', type: 'string', multiple: true, valueName: 'ACTION', help: 'enforced action: allow, deny' },
  { name: 'policy', type: 'string', multiple: true, valueName: '[NS/]NAME', help: 'flows with a hit of this policy in either trace' },
  { name: 'pending-changed', type: 'boolean', help: 'only flows whose pending action differs from the enforced one (checked here)' },
  { name: 'since', type: 'string', valueName: 'WHEN', help: 'start: -15m, 1h (ago), Unix seconds or an ISO date (default: all retained; with --follow: now)' },
  { name: 'limit', type: 'string', valueName: 'N', help: 'newest N flows (default 100; 0 = all)' },
  { name: 'follow', short: 'f', type: 'boolean', help: 'keep streaming new flows (one per flow and 15 s interval) until interrupted' },
  { name: 'json', type: 'boolean', help: 'one proto3-JSON goldmane.Flow per line' },
  HELP_FLAG
]

function stringMatch (text: string): WireStringMatch {
  return text.startsWith('~') ? { value: text.slice(1), type: 'Fuzzy' } : { value: text, type: 'Exact' }
}

function emptyFilter (): WireFilter {
  return { sourceNames: [], sourceNamespaces: [], destNames: [], destNamespaces: [], protocols: [], destPorts: [], actions: [], policies: [] }
}

/** The Goldmane filters the flags ask for: one, or two (source side, destination side) for --namespace/--name. */
export function filtersOf (args: ParsedArgs): WireFilter[] {
  const common = emptyFilter()
  for (const port of listFlag(args, 'port')) {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new UsageError(`--port "${port}" is not a port number`)
    common.destPorts.push({ port: Number(port) })
  }
  common.protocols.push(...listFlag(args, 'protocol').map(p => ({ value: p.toLowerCase(), type: 'Exact' as const })))
  for (const action of listFlag(args, 'action')) {
    const a = action.charAt(0).toUpperCase() + action.slice(1).toLowerCase()
    if (a !== 'Allow' && a !== 'Deny' && a !== 'Pass') throw new UsageError(`--action "${action}" is not allow, deny or pass`)
    common.actions.push(a as WireAction)
  }
  for (const policy of listFlag(args, 'policy')) {
    const slash = policy.indexOf('/')
    common.policies.push({ kind: 'KindUnspecified', tier: '', namespace: slash < 0 ? '' : policy.slice(0, slash), name: slash < 0 ? policy : policy.slice(slash + 1), action: 'ActionUnspecified' })
  }
  const namespaces = listFlag(args, 'namespace').map(stringMatch)
  const names = listFlag(args, 'name').map(stringMatch)
  if (namespaces.length === 0 && names.length === 0) return [common]
  return [
    { ...common, sourceNamespaces: namespaces, sourceNames: names },
    { ...common, destNamespaces: namespaces, destNames: names }
  ]
}

const CANCELLED = 1

function endpoint (ns: string, name: string): string { return ns === '' ? name : `${ns}/${name}` }

function clock (seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(11, 19)
}

/** One table row per flow (the header first). */
export function flowRows (results: readonly WireFlowResult[], style: Style): string[][] {
  const rows = [['START', 'SOURCE', 'DESTINATION', 'PORT', 'REPORTER', 'ENFORCED', 'PENDING', 'PACKETS', 'BYTES', 'CONNS']]
  for (const r of results) {
    if (r.flow === null || r.flow === undefined) continue
    const f = flowLogFromWire(r.flow)
    const k = f.key
    const pending = pendingAction(k)
    const pendingText = isPendingChanged(k) ? style.yellow(`${pending} (changes)`) : pending
    rows.push([clock(f.startTime), endpoint(k.sourceNamespace, k.sourceName), endpoint(k.destNamespace, k.destName) + (k.destServiceName === '' ? '' : ` (svc ${k.destServiceName})`),
      `${k.destPort}/${k.proto}`, k.reporter, k.action, pendingText, String(f.packetsIn + f.packetsOut), String(f.bytesIn + f.bytesOut), String(f.connectionsStarted)])
  }
  return rows
}

/** Aligns rows into columns (ANSI codes do not count towards widths); the first row is the header. */
export function formatTable (rows: readonly string[][], style: Style): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string): number => s.replace(/\u001b\[[0-9;]*m/g, '').length
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => visible(r[i] ?? '')))) ?? []
  return rows.map((r, n) => {
    const line = r.map((c, i) => i === r.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visible(c)))).join('  ')
    return n === 0 ? style.bold(line) : line
  }).join('\n') + '\n'
}

function keep (result: WireFlowResult, pendingChangedOnly: boolean): boolean {
  if (!pendingChangedOnly) return true
  return result.flow?.Key !== null && result.flow?.Key !== undefined && isPendingChanged(flowLogFromWire(result.flow).key)
}

async function list (args: ParsedArgs, io: CommandIo): Promise<number> {
  const client = await connectToAggregator(loadProtos().goldmane.Flows, aggregatorConnectionOf(args))
  try {
    const limitText = stringFlag(args, 'limit') ?? '100'
    if (!/^\d+$/.test(limitText)) throw new UsageError(`--limit "${limitText}" is not a number`)
    const limit = Number(limitText)
    const since = stringFlag(args, 'since')
    const startTimeGte = since === undefined ? 0 : parseSince(since)
    const pendingChangedOnly = booleanFlag(args, 'pending-changed')
    const deadlineMs = timeoutMsOf(args)
    const byId = new Map<string, WireFlowResult>()
    let total = 0
    for (const filter of filtersOf(args)) {
      // Page through: the server bounds one answer; --pending-changed is filtered here, so it may need every page.
      const pageSize = 1000
      for (let page = 0; ; page++) {
        const result = await callUnary(client, 'List', { startTimeGte, startTimeLt: 0, page, pageSize, sortBy: [{ sortBy: 'Time' }], filter, aggregationInterval: 0 }, { deadlineMs })
        total = Math.max(total, result.meta?.totalResults ?? 0)
        for (const r of result.flows) if (keep(r, pendingChangedOnly)) byId.set(String(r.id), r)
        const enough = limit > 0 && byId.size >= limit && filtersOf(args).length === 1
        if (enough || page + 1 >= (result.meta?.totalPages ?? 0)) break
      }
    }
    const results = [...byId.values()].sort((a, b) => (b.flow?.startTime ?? 0) - (a.flow?.startTime ?? 0) || a.id - b.id)
    const shown = limit === 0 ? results : results.slice(0, limit)
    if (booleanFlag(args, 'json')) {
      for (const r of shown) io.stdout.write(JSON.stringify(toProto3Json('goldmane.Flow', r.flow)) + '\n')
      return 0
    }
    const style = makeStyle(io.isTty)
    if (shown.length === 0) { io.stdout.write('no flows match\n'); return 0 }
    io.stdout.write(formatTable(flowRows(shown, style), style))
    if (shown.length < results.length) io.stdout.write(style.dim(`… ${results.length - shown.length} more (--limit 0 lists all)`) + '\n')
    return 0
  } finally {
    client.close()
  }
}

async function follow (args: ParsedArgs, io: CommandIo, stopSignal: AbortSignal | undefined): Promise<number> {
  const client = await connectToAggregator(loadProtos().goldmane.Flows, aggregatorConnectionOf(args))
  const since = stringFlag(args, 'since')
  const startTimeGte = since === undefined ? 0 : parseSince(since)
  const pendingChangedOnly = booleanFlag(args, 'pending-changed')
  const json = booleanFlag(args, 'json')
  const style = makeStyle(io.isTty)
  let headerDone = false
  const calls: Array<grpc.ClientReadableStream<WireFlowResult>> = []
  const cancelAll = (): void => { for (const c of calls) c.cancel() }
  stopSignal?.addEventListener('abort', cancelAll, { once: true })
  // With two filters the same flow may arrive on both streams: print each (id, interval) once.
  const printed = new Set<string>()
  try {
    await Promise.all(filtersOf(args).map(async filter => {
      const call = client.Stream({ startTimeGte, filter, aggregationInterval: 15 })
      calls.push(call)
      if (stopSignal?.aborted === true) call.cancel()
      await new Promise<void>((resolve, reject) => {
        call.on('data', (r: WireFlowResult) => {
          const id = `${r.id}@${r.flow?.startTime ?? 0}`
          if (printed.has(id) || !keep(r, pendingChangedOnly)) return
          printed.add(id)
          if (printed.size > 100_000) printed.clear()
          if (json) { io.stdout.write(JSON.stringify(toProto3Json('goldmane.Flow', r.flow)) + '\n'); return }
          const rows = flowRows([r], style)
          const text = formatTable(rows, style).split('\n')
          if (!headerDone) { io.stdout.write(text[0] + '\n'); headerDone = true }
          io.stdout.write((text[1] ?? '') + '\n')
        })
        call.on('end', resolve)
        // CANCELLED is how --follow ends (interrupted): not an error.
        call.on('error', (error: grpc.ServiceError) => { if (error.code === CANCELLED) resolve(); else reject(error) })
      })
    }))
    return 0
  } finally {
    stopSignal?.removeEventListener('abort', cancelAll)
    client.close()
  }
}

/** Runs `flows`; `stopSignal` ends --follow (the command wires SIGINT/SIGTERM to it). */
export async function runFlows (argv: readonly string[], io: CommandIo, stopSignal?: AbortSignal): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${flowsCommand.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0] ?? ''}"`)
  return booleanFlag(args, 'follow') ? await follow(args, io, stopSignal) : await list(args, io)
}

export const flowsCommand: Command = {
  name: 'flows',
  summary: 'list or follow the flows an aggregator holds, with both verdicts',
  usage: 'flows --server HOST:PORT [--namespace NS] [--name NAME] [--port N] [--protocol P] [--action A] [--policy [NS/]NAME] [--pending-changed] [--since -15m] [--follow] [--json]',
  flags: FLAGS,
  async run (argv, io) {
    const controller = new AbortController()
    const onSignal = (): void => { controller.abort() }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      return await runFlows(argv, io, controller.signal)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}
