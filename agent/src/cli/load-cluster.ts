// Shared by the offline commands: read `-f` paths, stop with every error listed when any input is invalid,
// and build the endpoint directory and the policy engine from what was read.
import { ShadowflowError, UsageError } from '../errors.js'
import { InventoryDirectory } from '../endpoints/inventory-directory.js'
import { readResourceFiles } from '../io/read-resource-files.js'
import { normalizePolicies } from '../policy/normalized-policy.js'
import { PolicyEngine, type StagedMode } from '../policy/policy-engine.js'
import type { LoadedResource, Tier } from '../policy/resources.js'
import type { FlagSpec } from './args.js'
import type { CommandIo } from './command.js'

/** The `-f` flag of every command that reads resources. */
export const FILENAME_FLAG: FlagSpec = { name: 'filename', short: 'f', type: 'string', multiple: true, valueName: 'PATH', help: 'resources: file, directory (recursive) or - for stdin; YAML or JSON' }

/** The `-f` and `--staged-mode` flags every offline command shares. */
export const CLUSTER_FLAGS: readonly FlagSpec[] = [
  FILENAME_FLAG,
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

// Shared with the agent's /debug/explain: the resolution lives with the other endpoint lookups.
export { endpointLabel, resolveFlowEnd } from '../endpoints/flow-endpoint-resolver.js'
