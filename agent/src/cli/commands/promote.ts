// `shadowflow promote`: turns staged policies into the enforced policies they preview, ready for
// `shadowflow promote -f staged.yaml | kubectl apply -f -`. stdout carries only what the chosen --output format
// promises (so it can be piped); every note, and the `kubectl delete` lines of `stagedAction: Delete` policies in
// the yaml/json formats, go to stderr, which the operator still sees while stdout is piped.
import { FILENAME_FLAG } from '../load-cluster.js'
import { HELP_FLAG, booleanFlag, formatFlags, listFlag, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command, CommandIo } from '../command.js'
import { UsageError } from '../../errors.js'
import { readResourceFiles } from '../../io/read-resource-files.js'
import {
  isStagedPolicy, promoteAll, renderDeleteCommands, renderPromotedJson, renderPromotedYaml
} from '../../policy/promote.js'
import type { LoadedResource, Resource } from '../../policy/resources.js'

const OUTPUTS = ['yaml', 'json', 'commands'] as const
type Output = typeof OUTPUTS[number]

const FLAGS: readonly FlagSpec[] = [
  FILENAME_FLAG,
  { name: 'name', type: 'string', valueName: 'NAME', help: 'promote only the staged policies named NAME or NAMESPACE/NAME' },
  { name: 'output', short: 'o', type: 'string', valueName: 'FORMAT', help: 'yaml (default) or json: resources to apply; commands: the kubectl delete lines' },
  HELP_FLAG
]

const USAGE = 'promote -f PATH [-f PATH…] [--name NAME] [--output yaml|json|commands]'

function help (): string {
  return [
    `Usage: shadowflow ${USAGE}`,
    '',
    'Turns staged policies into the enforced policies they preview, as Calico does when a staged policy is',
    'enforced: StagedNetworkPolicy → projectcalico.org/v3 NetworkPolicy, StagedGlobalNetworkPolicy →',
    'GlobalNetworkPolicy, StagedKubernetesNetworkPolicy → networking.k8s.io/v1 NetworkPolicy; same name,',
    'namespace, labels and annotations, the spec without stagedAction. Other resources in the input are skipped.',
    '',
    'A staged policy with `stagedAction: Delete` stands for deleting the enforced policy, which `kubectl apply`',
    'cannot do, so it becomes a `kubectl delete <resource>.<group> NAME [-n NAMESPACE]` line:',
    '  --output yaml      stdout: the resources to apply (multi-document YAML); stderr: notes and delete lines',
    '  --output json      stdout: the same resources as one v1 List; stderr: notes and delete lines',
    '  --output commands  stdout: only the kubectl delete lines, one per line, no comments; stderr: notes',
    '',
    'Examples:',
    '  shadowflow promote -f staged.yaml | kubectl apply -f -',
    '  shadowflow promote -f staged.yaml --output commands | sh',
    '  shadowflow promote -f examples/shop --name database/default.allow-tcp-6379',
    '',
    'Exit status: 0 on success, 2 when an input is invalid (every error is listed) or --name matches nothing.',
    'The staged policies themselves are left in place; delete them once the enforced ones are applied.',
    '',
    'Options:',
    formatFlags(FLAGS),
    ''
  ].join('\n')
}

function plural (n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`
}

/** `NAME` matches metadata.name in any namespace; `NAMESPACE/NAME` one namespace (names cannot contain "/"). */
function nameMatcher (spec: string): (resource: Resource) => boolean {
  const slash = spec.indexOf('/')
  if (slash < 0) return r => r.metadata.name === spec
  const namespace = spec.slice(0, slash)
  const name = spec.slice(slash + 1)
  if (namespace === '' || name === '' || name.includes('/')) throw new UsageError(`--name must be NAME or NAMESPACE/NAME, got "${spec}"`)
  return r => r.metadata.name === name && r.metadata.namespace === namespace
}

function describeResource (loaded: LoadedResource): string {
  const { kind, metadata } = loaded.resource
  return `${kind} ${metadata.namespace === undefined ? '' : `${metadata.namespace}/`}${metadata.name} (${loaded.origin.file}:${loaded.origin.line})`
}

/** Narrows the input to the staged policies --name asks for; throws UsageError naming what was found instead. */
function selectByName (resources: readonly LoadedResource[], spec: string): LoadedResource[] {
  const matches = nameMatcher(spec)
  const selected = resources.filter(r => matches(r.resource))
  const staged = selected.filter(r => isStagedPolicy(r.resource))
  if (staged.length > 0) return staged
  if (selected.length > 0) {
    throw new UsageError(`--name ${spec} matches no staged policy, only ${selected.map(describeResource).join(', ')}; only StagedNetworkPolicy, StagedGlobalNetworkPolicy and StagedKubernetesNetworkPolicy can be promoted`)
  }
  const known = resources.filter(r => isStagedPolicy(r.resource))
    .map(r => `${r.resource.metadata.namespace === undefined ? '' : `${r.resource.metadata.namespace}/`}${r.resource.metadata.name}`)
  throw new UsageError(`--name ${spec} matches no staged policy${known.length === 0 ? ' (the input has none)' : ` (staged policies: ${[...new Set(known)].join(', ')})`}`)
}

function parseOutput (value: string | undefined): Output {
  if (value === undefined) return 'yaml'
  if ((OUTPUTS as readonly string[]).includes(value)) return value as Output
  throw new UsageError(`--output must be one of ${OUTPUTS.join(', ')}, got "${value}"`)
}

async function run (argv: readonly string[], io: CommandIo): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (booleanFlag(args, 'help')) {
    io.stdout.write(help())
    return 0
  }
  const [stray] = args.positionals
  if (stray !== undefined) throw new UsageError(`unexpected argument "${stray}" (did you mean -f ${stray}?)`)
  const paths = listFlag(args, 'filename')
  if (paths.length === 0) throw new UsageError('promote needs at least one -f PATH')
  const output = parseOutput(stringFlag(args, 'output'))
  const name = stringFlag(args, 'name')

  const { resources, errors } = await readResourceFiles(paths, io.stdin)
  if (errors.length > 0) {
    // Promoting part of an invalid input could apply a half-reviewed change: refuse, and list everything.
    for (const error of errors) io.stderr.write(`${error.describe()} [${error.code}]\n`)
    io.stderr.write(`shadowflow promote: nothing promoted: ${plural(errors.length, 'error')} in the input\n`)
    return 2
  }

  const input = name === undefined ? resources : selectByName(resources, name)
  const { promotions, skipped } = promoteAll(input, r => r.resource)
  const deletes = renderDeleteCommands(promotions)
  const applies = promotions.length - deletes.length

  if (output === 'yaml') io.stdout.write(renderPromotedYaml(promotions))
  else if (output === 'json') io.stdout.write(renderPromotedJson(promotions))
  else io.stdout.write(deletes.map(line => `${line}\n`).join(''))

  const notes: string[] = []
  if (promotions.length === 0) {
    notes.push('no staged policy in the input; nothing to promote')
  } else {
    notes.push(`promoted ${plural(promotions.length, 'staged policy', 'staged policies')}: ${applies} to apply, ${deletes.length} to delete` +
      (output === 'commands' && applies > 0 ? ' (run with --output yaml for the resources to apply)' : ''))
  }
  if (skipped.length > 0) notes.push(`skipped ${plural(skipped.length, 'resource')} that ${skipped.length === 1 ? 'is not a staged policy' : 'are not staged policies'}`)
  for (const note of notes) io.stderr.write(`shadowflow promote: ${note}\n`)
  if (deletes.length > 0 && output !== 'commands') {
    io.stderr.write(`shadowflow promote: ${plural(deletes.length, 'staged policy asks', 'staged policies ask')} for deletion (stagedAction: Delete); ` +
      '`kubectl apply` cannot delete, run:\n')
    for (const line of deletes) io.stderr.write(`${line}\n`)
  }
  return 0
}

/** `shadowflow promote`: staged policies → the enforced resources to apply and the kubectl delete lines. */
export const promoteCommand: Command = {
  name: 'promote',
  summary: 'turn staged policies into enforced ones: YAML for kubectl apply, kubectl delete lines for Delete',
  usage: USAGE,
  flags: FLAGS,
  run
}
