// Shared by the offline commands: read `-f` paths, stop with every error listed when any input is invalid,
// and build the endpoint directory and the policy engine from what was read.
import { ShadowflowError, UnknownEndpointError, UsageError } from '../errors.js'
import { InventoryDirectory } from '../endpoints/inventory-directory.js'
import { readResourceFiles } from '../io/read-resource-files.js'
import type { WorkloadEndpoint } from '../policy/endpoint-model.js'
import { parseIp } from '../policy/ip-address.js'
import { normalizePolicies } from '../policy/normalized-policy.js'
import { PolicyEngine, type FlowEndInput, type StagedMode } from '../policy/policy-engine.js'
import type { LoadedResource, Tier } from '../policy/resources.js'
import { editDistance, type FlagSpec } from './args.js'
import type { CommandIo } from './command.js'

/** The `-f` and `--staged-mode` flags every offline command shares. */
export const CLUSTER_FLAGS: readonly FlagSpec[] = [
  { name: 'filename', short: 'f', type: 'string', multiple: true, valueName: 'PATH', help: 'resources: file, directory (recursive) or - for stdin; YAML or JSON' },
  { name: 'staged-mode', type: 'string', valueName: 'calico|replace', help: 'calico (default): staged policies are added to the pending set; replace: Set replaces and Delete removes the enforced policy of the same identity' }
]

/** What an offline command works on. */
export interface LoadedCluster {
  readonly resources: readonly LoadedResource[]
  readonly directory: InventoryDirectory
  readonly engine: PolicyEngine
}

/** Parses `--staged-mode`. */
export function stagedModeOf (value: string | undefined): StagedMode {
  if (value === undefined || value === 'calico') return 'calico'
  if (value === 'replace') return 'replace'
  throw new UsageError(`--staged-mode must be "calico" or "replace", not "${value}"`)
}

/** Reads the resources and builds the engine; prints every input error and throws when there is one. */
export async function loadCluster (paths: readonly string[], io: CommandIo, stagedMode: StagedMode): Promise<LoadedCluster> {
  if (paths.length === 0) throw new UsageError('no resources given: use -f PATH (file, directory or -)')
  const { resources, errors } = await readResourceFiles([...paths], io.stdin)
  if (errors.length > 0) {
    for (const e of errors) io.stderr.write(`${e.describe()} [${e.code}]\n`)
    throw new ShadowflowError('ERR_RESOURCE_INVALID', `${errors.length} error${errors.length === 1 ? '' : 's'} in the input; nothing was evaluated (run \`shadowflow validate\` for the list)`)
  }
  const directory = new InventoryDirectory(resources)
  const engine = new PolicyEngine(directory, { stagedMode })
  const tiers = resources.map(r => r.resource).filter((r): r is Tier => r.kind === 'Tier')
  engine.setPolicies(normalizePolicies(resources), tiers)
  return { resources, directory, engine }
}

/** Resolves `ns/pod`, a unique pod name, or an IP address to one end of a flow. */
export function resolveFlowEnd (text: string, directory: InventoryDirectory): FlowEndInput & { label: string } {
  const ip = parseIp(text)
  if (ip !== undefined) {
    const endpoint = directory.endpointForIp(ip)
    return { ip, ...(endpoint === undefined ? {} : { endpoint }), label: endpoint === undefined ? text : `${endpointLabel(endpoint)} (${text})` }
  }
  const slash = text.indexOf('/')
  let endpoint: WorkloadEndpoint | undefined
  if (slash > 0) {
    endpoint = directory.workload(text.slice(0, slash), text.slice(slash + 1))
  } else {
    const candidates = directory.workloads.filter(w => w.name === text)
    if (candidates.length > 1) throw new UnknownEndpointError(`"${text}" names pods in several namespaces (${candidates.map(c => c.namespace).join(', ')}); write namespace/name`)
    endpoint = candidates[0]
  }
  if (endpoint === undefined) {
    const names = directory.workloads.map(w => `${w.namespace}/${w.name}`)
    const hint = names.find(n => editDistance(n, text) <= 2)
    throw new UnknownEndpointError(`no pod "${text}" in the inventory${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; give namespace/name of a Pod in the -f files, or an IP address`)
  }
  const first = endpoint.ips[0]
  return { endpoint, ...(first === undefined ? {} : { ip: first }), label: endpointLabel(endpoint) }
}

/** `namespace/name` of a workload, or the host endpoint's name. */
export function endpointLabel (endpoint: { kind: string, name: string, namespace?: string | undefined }): string {
  return endpoint.namespace === undefined ? `hep:${endpoint.name}` : `${endpoint.namespace}/${endpoint.name}`
}
