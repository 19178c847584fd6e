// Which API serves each Calico kind, decided by discovery (GET /apis, then the group-version's resource list),
// per kind: projectcalico.org/v3 when Calico's API server (or shadowflow's staged-policy CRDs) serves it, else
// Calico's storage CRD crd.projectcalico.org/v1, else the kind is not watched. Per kind rather than per group
// because clusters mix: Calico without its API server plus shadowflow's v3 CRDs for the staged kinds.
import { CALICO_CRD, CALICO_KINDS, CALICO_V3, KUBERNETES_RESOURCES, type KubeResource } from './kube-resources.js'
import type { KubeConnection } from './kube-connection.js'

/** The resources to watch and where each Calico kind comes from. */
export interface WatchPlan {
  readonly resources: readonly KubeResource[]
  /** Calico kind → `projectcalico.org/v3`, `crd.projectcalico.org/v1` or `none`. */
  readonly calicoSources: Readonly<Record<string, string>>
}

type Rec = Record<string, unknown>

async function servedPlurals (connection: KubeConnection, groups: Rec[], api: { group: string, version: string }): Promise<Set<string>> {
  const group = groups.find(g => g.name === api.group)
  const versions = Array.isArray(group?.versions) ? group.versions as Rec[] : []
  if (!versions.some(v => v.version === api.version)) return new Set()
  const list = await connection.getJson(`/apis/${api.group}/${api.version}`, { notFoundOk: true }) as { resources?: Rec[] } | undefined
  // Subresources (`networkpolicies/status`) are listed alongside; only watchable collections count.
  return new Set((list?.resources ?? [])
    .filter(r => typeof r.name === 'string' && !r.name.includes('/') && (!Array.isArray(r.verbs) || (r.verbs.includes('list') && r.verbs.includes('watch'))))
    .map(r => r.name as string))
}

/** Asks the API server what it serves; rejects with ERR_KUBE_API when discovery itself fails. */
export async function discoverWatchPlan (connection: KubeConnection): Promise<WatchPlan> {
  const apis = await connection.getJson('/apis') as { groups?: Rec[] }
  const groups = Array.isArray(apis.groups) ? apis.groups : []
  const v3 = await servedPlurals(connection, groups, CALICO_V3)
  const crd = await servedPlurals(connection, groups, CALICO_CRD)
  const resources: KubeResource[] = [...KUBERNETES_RESOURCES]
  const calicoSources: Record<string, string> = {}
  for (const k of CALICO_KINDS) {
    const api = v3.has(k.plural) ? CALICO_V3 : crd.has(k.plural) ? CALICO_CRD : undefined
    calicoSources[k.kind] = api === undefined ? 'none' : `${api.group}/${api.version}`
    if (api !== undefined) resources.push({ ...k, group: api.group, version: api.version })
  }
  return { resources, calicoSources }
}
