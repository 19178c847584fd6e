// `shadowflow replay --pcap FILE -f PATH`: the agent's own pipeline (FlowPipeline: tap → endpoints → both
// pipelines → flow logs, every endpoint treated as local so both ends report) over a capture file, into an
// in-process aggregator store, then the aggregator's impact report: what the staged policies would change.
// `--json` prints every flow as one proto3-JSON goldmane.Flow per line instead.
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { FlowPipeline } from '../../agent/flow-pipeline.js'
import { PolicySource } from '../../agent/policy-source.js'
import { FlowStore } from '../../aggregator/flow-store.js'
import { computeImpact, responsiblePolicy, type ImpactReport } from '../../aggregator/impact-report.js'
import { UsageError } from '../../errors.js'
import { isPendingChanged, pendingAction } from '../../flows/flow-filter.js'
import type { FlowLog } from '../../flows/flow-log.js'
import { flowLogToWire } from '../../grpc/goldmane-mapping.js'
import { loadProtos } from '../../grpc/load-protos.js'
import { openTapSource } from '../../tap/native-tap-source.js'
import { silentLogger } from '../../telemetry/logger.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { makeStyle, type Style } from '../format-verdicts.js'
import { CLUSTER_FLAGS, stagedModeOf } from '../load-cluster.js'

const FLAGS: readonly FlagSpec[] = [
  { name: 'pcap', type: 'string', valueName: 'FILE', help: 'the capture to replay (pcap or pcapng)' },
  ...CLUSTER_FLAGS,
  { name: 'interval', type: 'string', valueName: 'SECONDS', help: 'flow-log interval, a multiple of 15 (default 15)' },
  { name: 'json', type: 'boolean', help: 'print every flow as one proto3-JSON goldmane.Flow per line (both reporters, all intervals merged per key)' },
  { name: 'limit', type: 'string', valueName: 'N', help: 'changed flows listed in the table (default 50; 0 = all)' },
  HELP_FLAG
]

// Ten years: a replay keeps every interval of the capture, whatever its age.
const REPLAY_RETENTION_SECONDS = 10 * 365 * 24 * 3600

/** The result of running a capture through the pipeline into a store. */
export interface ReplayResult {
  readonly store: FlowStore
  readonly records: number
  readonly flowLogs: number
}

/** Runs `pcapFile` through the agent pipeline (all endpoints local) into a fresh FlowStore. */
export async function replayCapture (pcapFile: string, paths: readonly string[], options: { stagedMode: 'calico' | 'replace', intervalSeconds?: number, onProgress?: (records: number) => void }): Promise<ReplayResult> {
  const pipeline = new FlowPipeline({ nodeName: 'replay', allLocal: true, stagedMode: options.stagedMode, intervalSeconds: options.intervalSeconds ?? 15, maxTrackedFlows: 1 << 22, recentFlows: 0 })
  const policies = new PolicySource({ paths, logger: silentLogger(), apply: set => { pipeline.apply(set) }, watch: false })
  await policies.load()
  let newestEnd = 0
  const store = new FlowStore({ retentionSeconds: REPLAY_RETENTION_SECONDS, nowSeconds: () => newestEnd, maxFlows: 1 << 22 })
  let flowLogs = 0
  const source = openTapSource(`pcap-file:${pcapFile}`)
  await pipeline.run(source, {
    clock: 'event',
    sink: logs => {
      for (const log of logs) {
        if (log.endTime > newestEnd) newestEnd = log.endTime
        store.ingest(log)
        flowLogs++
      }
    },
    ...(options.onProgress === undefined ? {} : { onBatch: options.onProgress })
  })
  return { store, records: pipeline.records, flowLogs }
}

let flowType: protobuf.Type | undefined
/** A flow log as proto3 JSON (int64 as strings, enums by name, defaults omitted), via protobufjs. */
export function flowLogToProto3Json (log: FlowLog): unknown {
  flowType ??= protobuf.loadSync(join(loadProtos().protoRoot, 'goldmane', 'api.proto')).lookupType('goldmane.Flow')
  return flowType.fromObject(flowLogToWire(log) as unknown as Record<string, unknown>).toJSON()
}

function endpoint (ns: string, name: string): string { return ns === '' ? name : `${ns}/${name}` }

function table (rows: string[][], style: Style): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length))) ?? []
  return rows.map((r, n) => {
    const line = r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ')
    return n === 0 ? style.bold(line) : line
  }).join('\n')
}

function formatReport (report: ImpactReport, result: ReplayResult, changed: readonly FlowLog[], limit: number, style: Style, pcap: string): string {
  const c = report.considered
  const ch = report.changed
  const lines = [
    `${style.bold('Replay')}   ${pcap}: ${result.records} flow records, ${c.flows} flows (per key and reporter), ${c.connections} connections, ${c.packets} packets, ${c.bytes} bytes`,
    `${style.bold('Impact')}   ${ch.flows === 0 ? style.green('no flow would change') : `${style.yellow(`${ch.flows} flow${ch.flows === 1 ? '' : 's'} would change`)} (${ch.connections} connections): ${style.red(`${ch.newlyDenied} newly denied`)}, ${style.green(`${ch.newlyAllowed} newly allowed`)}`}`
  ]
  if (report.groups.length > 0) {
    lines.push('', style.bold('By policy'))
    const rows = [['POLICY', 'KIND', 'TIER', 'FLOWS', 'NEWLY DENIED', 'NEWLY ALLOWED', 'CONNECTIONS', 'BYTES']]
    for (const g of report.groups) {
      const p = g.policy
      rows.push([p === undefined ? '(unattributed)' : `${endpoint(p.namespace, p.name)}${p.attribution === 'removed' ? ' (removed)' : ''}`, p?.kind ?? '', p?.tier ?? '',
        String(g.totals.flows), String(g.totals.newlyDenied), String(g.totals.newlyAllowed), String(g.totals.connections), String(g.totals.bytes)])
    }
    lines.push(table(rows, style))
  }
  if (changed.length > 0) {
    lines.push('', style.bold('Changed flows'))
    const rows = [['SOURCE', 'DESTINATION', 'PORT', 'REPORTER', 'ENFORCED', 'PENDING', 'POLICY', 'CONNECTIONS', 'BYTES']]
    const shown = limit === 0 ? changed : changed.slice(0, limit)
    for (const f of shown) {
      const k = f.key
      const p = responsiblePolicy(k)
      const pending = pendingAction(k)
      rows.push([endpoint(k.sourceNamespace, k.sourceName), endpoint(k.destNamespace, k.destName) + (k.destServiceName === '' ? '' : ` (svc ${k.destServiceName})`),
        `${k.destPort}/${k.proto}`, k.reporter, k.action, pending === 'Deny' ? style.red(pending) : style.green(pending),
        p === undefined ? '' : endpoint(p.namespace, p.name), String(f.connectionsStarted), String(f.bytesIn + f.bytesOut)])
    }
    lines.push(table(rows, style))
    if (shown.length < changed.length) lines.push(style.dim(`… ${changed.length - shown.length} more (--limit 0 lists all, --json prints every flow)`))
  }
  return lines.join('\n') + '\n'
}

function progress (io: CommandIo): ((records: number) => void) | undefined {
  const stderr = io.stderr as NodeJS.WritableStream & { isTTY?: boolean }
  if (stderr.isTTY !== true) return undefined
  let last = 0
  return records => {
    const now = Date.now()
    if (now - last < 100) return
    last = now
    stderr.write(`\rreplaying: ${records} flow records`)
  }
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a capture through the agent pipeline and report what the staged policies would change',
  usage: 'replay --pcap FILE -f PATH [--staged-mode calico|replace] [--json]',
  flags: FLAGS,
  async run (argv, io) {
    const args = parseArgs(argv, FLAGS)
    if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
    const pcap = stringFlag(args, 'pcap')
    if (pcap === undefined) throw new UsageError('give the capture with --pcap FILE')
    const paths = listFlag(args, 'filename')
    if (paths.length === 0) throw new UsageError('no resources given: use -f PATH (file, directory or -)')
    const intervalText = stringFlag(args, 'interval')
    const intervalSeconds = intervalText === undefined ? 15 : Number(intervalText)
    if (!Number.isInteger(intervalSeconds) || intervalSeconds < 15 || intervalSeconds % 15 !== 0) throw new UsageError(`--interval must be a positive multiple of 15, not "${intervalText}"`)
    const limitText = stringFlag(args, 'limit') ?? '50'
    if (!/^\d+$/.test(limitText)) throw new UsageError(`--limit must be a number, not "${limitText}"`)
    const onProgress = progress(io)
    const result = await replayCapture(pcap, paths, { stagedMode: stagedModeOf(stringFlag(args, 'staged-mode')), intervalSeconds, ...(onProgress === undefined ? {} : { onProgress }) })
    if (onProgress !== undefined) io.stderr.write('\r\u001b[K')
    const flows = result.store.list({ aggregationIntervalSeconds: 0 }).items.map(e => e.flow)
    if (booleanFlag(args, 'json')) {
      for (const f of flows) io.stdout.write(JSON.stringify(flowLogToProto3Json(f)) + '\n')
      return 0
    }
    const report = computeImpact(result.store)
    const changed = flows.filter(f => isPendingChanged(f.key))
      .sort((a, b) => (b.bytesIn + b.bytesOut) - (a.bytesIn + a.bytesOut) || b.connectionsStarted - a.connectionsStarted)
    io.stdout.write(formatReport(report, result, changed, Number(limitText), makeStyle(io.isTty), pcap))
    return 0
  }
}
