// `shadowflow explain`: one flow (or a JSON-lines batch) through the enforced and pending pipelines.
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { ResourceFileError, ShadowflowError, UsageError } from '../../errors.js'
import type { FlowInput } from '../../policy/policy-engine.js'
import type { FlowVerdicts } from '../../policy/policy-hit.js'
import { protocolName } from '../../policy/protocol.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { formatPipeline, makeStyle } from '../format-verdicts.js'
import { resolveDestination } from '../../endpoints/flow-endpoint-resolver.js'
import { CLUSTER_FLAGS, loadCluster, resolveFlowEnd, stagedModeOf, type LoadedCluster } from '../load-cluster.js'
import { parsePort, parseProtocol } from '../parse-flow-spec.js'

const FLAGS: readonly FlagSpec[] = [
  ...CLUSTER_FLAGS,
  { name: 'from', type: 'string', valueName: 'NS/POD|IP', help: 'source: a pod (namespace/name) or an IP address' },
  { name: 'to', type: 'string', valueName: 'NS/POD|IP', help: 'destination: a pod (namespace/name) or an IP address' },
  { name: 'protocol', type: 'string', valueName: 'PROTO', help: 'TCP (default), UDP, SCTP, ICMP, ICMPv6 or a number' },
  { name: 'port', type: 'string', valueName: 'N', help: 'destination port' },
  { name: 'src-port', type: 'string', valueName: 'N', help: 'source port (only rules with source ports need it)' },
  { name: 'icmp-type', type: 'string', valueName: 'N', help: 'ICMP type' },
  { name: 'icmp-code', type: 'string', valueName: 'N', help: 'ICMP code' },
  { name: 'flows', type: 'string', valueName: 'FILE.jsonl', help: 'batch: one {"from","to","protocol","port"} per line (- for stdin); prints one JSON line each' },
  { name: 'json', type: 'boolean', help: 'print JSON: {"enforced": V, "pending": V} with V = {"action","src","dst"}' },
  HELP_FLAG
]

interface FlowSpec { from: string, to: string, protocol?: string | number, port?: string | number, srcPort?: number, icmpType?: number, icmpCode?: number }

function toFlowInput (spec: FlowSpec, cluster: LoadedCluster): { flow: FlowInput, fromLabel: string, toLabel: string } {
  const src = resolveFlowEnd(spec.from, cluster.directory)
  const protocol = parseProtocol(spec.protocol === undefined ? undefined : String(spec.protocol))
  const dst = resolveDestination(resolveFlowEnd(spec.to, cluster.directory), protocol, parsePort(spec.port), cluster.directory)
  const flow: FlowInput = {
    src: { ...src, ...(spec.srcPort === undefined ? {} : { port: spec.srcPort }) },
    dst,
    protocol,
    ...(spec.icmpType === undefined ? {} : { icmpType: spec.icmpType }),
    ...(spec.icmpCode === undefined ? {} : { icmpCode: spec.icmpCode })
  }
  return { flow, fromLabel: src.label, toLabel: dst.label }
}

/** The JSON form of both verdicts (the conformance contract). */
export function verdictsToJson (v: FlowVerdicts): object {
  return {
    enforced: v.enforced,
    pending: v.pending,
    ...(v.unobservable.length > 0 ? { unobservable: v.unobservable } : {})
  }
}

function parseFlowLine (line: string, lineNumber: number, file: string): FlowSpec {
  let value: unknown
  try { value = JSON.parse(line) } catch (error) {
    throw new ResourceFileError(`not a JSON object: ${(error as Error).message}`, { file, line: lineNumber })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ResourceFileError('expected a JSON object {"from","to","protocol","port"}', { file, line: lineNumber })
  const o = value as Record<string, unknown>
  const known = new Set(['from', 'to', 'protocol', 'port', 'srcPort', 'icmpType', 'icmpCode'])
  for (const k of Object.keys(o)) if (!known.has(k)) throw new ResourceFileError(`unknown field "${k}" (expected from, to, protocol, port, srcPort, icmpType, icmpCode)`, { file, line: lineNumber })
  if (typeof o.from !== 'string' || typeof o.to !== 'string') throw new ResourceFileError('"from" and "to" must be strings (namespace/pod or IP)', { file, line: lineNumber })
  const num = (k: string): number | undefined => {
    const v = o[k]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new ResourceFileError(`"${k}" must be an integer`, { file, line: lineNumber })
    return v
  }
  const protocol = o.protocol
  if (protocol !== undefined && typeof protocol !== 'string' && typeof protocol !== 'number') throw new ResourceFileError('"protocol" must be a name or number', { file, line: lineNumber })
  const port = o.port
  if (port !== undefined && typeof port !== 'number' && typeof port !== 'string') throw new ResourceFileError('"port" must be a number', { file, line: lineNumber })
  return { from: o.from, to: o.to, protocol, port, srcPort: num('srcPort'), icmpType: num('icmpType'), icmpCode: num('icmpCode') }
}

async function runBatch (file: string, cluster: LoadedCluster, io: CommandIo): Promise<number> {
  const input = file === '-' ? io.stdin : createReadStream(file)
  let failures = 0
  let lineNumber = 0
  const lines = createInterface({ input, crlfDelay: Infinity })
  try {
    for await (const line of lines) {
      lineNumber++
      if (line.trim() === '') continue
      try {
        const { flow } = toFlowInput(parseFlowLine(line, lineNumber, file), cluster)
        io.stdout.write(JSON.stringify(verdictsToJson(cluster.engine.evaluate(flow))) + '\n')
      } catch (error) {
        if (!(error instanceof ShadowflowError)) throw error
        // One bad line gets an error line in its place, so output lines stay aligned with input lines.
        failures++
        io.stdout.write(JSON.stringify({ error: error.describe(), code: error.code, line: lineNumber }) + '\n')
      }
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== undefined) throw new ResourceFileError(`cannot read flows: ${code}`, { file }, error)
    throw error
  }
  return failures > 0 ? 1 : 0
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'explain one flow (or a batch) through the enforced and pending pipelines',
  usage: 'explain -f PATH --from NS/POD|IP --to NS/POD|IP [--protocol TCP] [--port N] [--json]\n       explain -f PATH --flows FILE.jsonl --json',
  flags: FLAGS,
  async run (argv, io) {
    const args = parseArgs(argv, FLAGS)
    if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
    const flowsFile = stringFlag(args, 'flows')
    const from = stringFlag(args, 'from')
    const to = stringFlag(args, 'to')
    if (flowsFile === undefined && (from === undefined || to === undefined)) throw new UsageError('give --from and --to (or --flows FILE.jsonl)')
    if (flowsFile !== undefined && (from !== undefined || to !== undefined)) throw new UsageError('--flows and --from/--to are exclusive')
    const cluster = await loadCluster(listFlag(args, 'filename'), io, stagedModeOf(stringFlag(args, 'staged-mode')))
    if (flowsFile !== undefined) return await runBatch(flowsFile, cluster, io)
    const spec: FlowSpec = { from: from as string, to: to as string, protocol: stringFlag(args, 'protocol'), port: stringFlag(args, 'port') }
    const srcPort = parsePort(stringFlag(args, 'src-port'), 'source port')
    const icmpType = parsePort(stringFlag(args, 'icmp-type'), 'ICMP type')
    const icmpCode = parsePort(stringFlag(args, 'icmp-code'), 'ICMP code')
    if (srcPort !== undefined) spec.srcPort = srcPort
    if (icmpType !== undefined) spec.icmpType = icmpType
    if (icmpCode !== undefined) spec.icmpCode = icmpCode
    const { flow, fromLabel, toLabel } = toFlowInput(spec, cluster)
    const verdicts = cluster.engine.evaluate(flow)
    if (booleanFlag(args, 'json')) { io.stdout.write(JSON.stringify(verdictsToJson(verdicts)) + '\n'); return 0 }
    const style = makeStyle(io.isTty)
    const port = flow.dst.port === undefined ? '' : `/${flow.dst.port}`
    const changed = verdicts.enforced.action !== verdicts.pending.action
    io.stdout.write([
      `${style.bold('Flow')}     ${fromLabel} -> ${toLabel}  ${protocolName(flow.protocol)}${port}`,
      '',
      formatPipeline('ENFORCED', verdicts.enforced, fromLabel, toLabel, style, false),
      '',
      formatPipeline('PENDING', verdicts.pending, fromLabel, toLabel, style, changed),
      ...(verdicts.unobservable.length > 0 ? ['', style.yellow(`note: rules with ${verdicts.unobservable.join(', ')} matches cannot be observed at L3/L4 and were treated as not matching`)] : []),
      ''
    ].join('\n') + '\n')
    return 0
  }
}
