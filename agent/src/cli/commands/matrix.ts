// `shadowflow matrix`: a reachability truth table among pods for one protocol/port, enforced and pending side
// by side, with the pairs whose verdict the staged policies change listed with the policy responsible.
import { UsageError } from '../../errors.js'
import type { WorkloadEndpoint } from '../../policy/endpoint-model.js'
import type { FlowVerdicts, PolicyHit } from '../../policy/policy-hit.js'
import { protocolName } from '../../policy/protocol.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command } from '../command.js'
import { describeHit, makeStyle } from '../format-verdicts.js'
import { CLUSTER_FLAGS, endpointLabel, loadCluster, stagedModeOf } from '../load-cluster.js'
import { parsePort, parseProtocol } from '../parse-flow-spec.js'

const FLAGS: readonly FlagSpec[] = [
  ...CLUSTER_FLAGS,
  { name: 'protocol', type: 'string', valueName: 'PROTO', help: 'TCP (default), UDP, SCTP or a number' },
  { name: 'port', type: 'string', valueName: 'N', help: 'destination port (required)' },
  { name: 'namespace', short: 'n', type: 'string', multiple: true, valueName: 'NS', help: 'only pods of this namespace' },
  { name: 'json', type: 'boolean', help: 'print {"endpoints": [...], "enforced": [[bool]], "pending": [[bool]]}' },
  HELP_FLAG
]

/** The hit that decided a pipeline: the last hit of the end that denied, else of the destination. */
function decidingHit (v: FlowVerdicts['pending']): PolicyHit | undefined {
  const side = v.src.length > 0 && v.src[v.src.length - 1]?.action === 'Deny' ? v.src : v.dst.length > 0 ? v.dst : v.src
  return side[side.length - 1]
}

export const matrixCommand: Command = {
  name: 'matrix',
  summary: 'reachability truth table among pods, enforced and pending side by side',
  usage: 'matrix -f PATH --port N [--protocol TCP] [-n NS]… [--json]',
  flags: FLAGS,
  async run (argv, io) {
    const args = parseArgs(argv, FLAGS)
    if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
    const port = parsePort(stringFlag(args, 'port'))
    if (port === undefined) throw new UsageError('give --port N (the destination port of every probe)')
    const protocol = parseProtocol(stringFlag(args, 'protocol'))
    const cluster = await loadCluster(listFlag(args, 'filename'), io, stagedModeOf(stringFlag(args, 'staged-mode')))
    const namespaces = listFlag(args, 'namespace')
    const pods: WorkloadEndpoint[] = cluster.directory.workloads
      .filter(w => namespaces.length === 0 || namespaces.includes(w.namespace))
      .sort((a, b) => a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : (a.namespace < b.namespace ? -1 : 1))
    const verdicts = pods.map(src => pods.map(dst => cluster.engine.evaluate({ src: { endpoint: src }, dst: { endpoint: dst, port }, protocol })))
    const endpoints = pods.map(endpointLabel)
    if (booleanFlag(args, 'json')) {
      io.stdout.write(JSON.stringify({
        endpoints,
        protocol: protocolName(protocol),
        port,
        enforced: verdicts.map(row => row.map(v => v.enforced.action === 'Allow')),
        pending: verdicts.map(row => row.map(v => v.pending.action === 'Allow'))
      }) + '\n')
      return 0
    }
    const style = makeStyle(io.isTty)
    const cell = (i: number, j: number): string => {
      if (i === j) return style.dim('·')
      const v = verdicts[i]?.[j] as FlowVerdicts
      const e = v.enforced.action === 'Allow'
      const p = v.pending.action === 'Allow'
      if (e && p) return style.green('✓')
      if (!e && !p) return style.red('✗')
      return p ? style.yellow('+') : style.yellow('-')
    }
    const width = String(pods.length).length
    const labelWidth = Math.max(4, ...endpoints.map(e => e.length)) + width + 3
    const lines = [
      `${style.bold('Reachability')} ${protocolName(protocol)}/${port}: row = from, column = to (numbered as the rows)`,
      `  ✓ allowed   ✗ denied   ${style.yellow('+')} newly allowed by pending   ${style.yellow('-')} newly denied by pending   · self`,
      '',
      ' '.repeat(labelWidth) + pods.map((_, j) => String(j + 1).padStart(width)).join(' ')
    ]
    pods.forEach((_, i) => {
      const label = `${String(i + 1).padStart(width)}. ${endpoints[i]}`
      lines.push(label.padEnd(labelWidth) + pods.map((__, j) => ' '.repeat(width - 1) + cell(i, j)).join(' '))
    })
    const changes: string[] = []
    pods.forEach((_, i) => pods.forEach((__, j) => {
      const v = verdicts[i]?.[j] as FlowVerdicts
      if (i === j || v.enforced.action === v.pending.action) return
      const hit = decidingHit(v.pending)
      changes.push(`  ${endpoints[i]} -> ${endpoints[j]}: ${v.enforced.action} -> ${v.pending.action}${hit === undefined ? '' : ` (${describeHit(hit)})`}`)
    }))
    lines.push('', changes.length === 0
      ? 'No pair changes verdict between enforced and pending.'
      : `${changes.length} pair${changes.length === 1 ? '' : 's'} change verdict between enforced and pending:`)
    lines.push(...changes)
    io.stdout.write(lines.join('\n') + '\n')
    return 0
  }
}
