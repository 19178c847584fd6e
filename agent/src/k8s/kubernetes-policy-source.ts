// Policy and inventory from the Kubernetes API (`--kubernetes`): the counterpart of the `-f` PolicySource, feeding
// the same `apply(set)`. One ResourceWatch per resource (discovery decides Calico's API per kind); every object is
// validated exactly as a file's document is — an invalid one is logged with its kind, namespace and name and the
// validator's message, and skipped (its last valid version, if any, stays in force), the rest keeps applying.
//
// Incremental: each event changes one entry of the in-memory state; changes are coalesced for DEBOUNCE_MS (a
// rollout touches many pods at once) and then published as one PolicySet. The engine's setPolicies recompiles
// only the policies whose content changed; the InventoryDirectory is rebuilt only when an inventory object
// changed (a policy edit reuses the directory object as is).
//
// Never a half-synced cache: nothing is published until every resource has delivered its first complete list,
// so load() resolves — and readiness turns true — only then.
import { ShadowflowError, UnavailableError } from '../errors.js'
import { InventoryDirectory } from '../endpoints/inventory-directory.js'
import { normalizePolicy, type NormalizedPolicy } from '../policy/normalized-policy.js'
import type { LoadedResource, Tier } from '../policy/resources.js'
import type { Logger } from '../telemetry/logger.js'
import { policySourceStatus, type PolicySet, type PolicySourceStatus } from '../agent/policy-source.js'
import { objectRef, validateApiObject } from './api-object.js'
import { discoverWatchPlan, type WatchPlan } from './calico-api-discovery.js'
import { KubeConnection } from './kube-connection.js'
import { CALICO_V3, resourceName, type KubeResource } from './kube-resources.js'
import { ResourceWatch, type ResourceWatchStats, type WatchEventType } from './resource-watch.js'
import { WatchBackoff } from './watch-backoff.js'

export interface KubernetesPolicySourceOptions {
  /** Kubeconfig file; empty: the in-cluster service account. */
  kubeconfig: string
  logger: Logger
  /** Applies a set; throwing rejects it (the previous set must then still be in force). */
  apply: (set: PolicySet) => void
  /** Called for every rejected object or set (metrics). */
  onRejected?: (errors: readonly ShadowflowError[]) => void
  /** Coalescing window of changes before a set is published (ms). */
  debounceMs?: number
  /** Backoff of each watch and of discovery (tests make it short). */
  newBackoff?: () => WatchBackoff
  watchTimeoutSeconds?: readonly [number, number]
}

/** Per-resource state for /debug and tests. */
export interface KubernetesSourceStats {
  readonly calicoSources: Readonly<Record<string, string>>
  readonly resources: ReadonlyArray<{ resource: string, synced: boolean, objects: number, error: string } & ResourceWatchStats>
  readonly invalidObjects: number
  readonly publishes: number
}

interface Entry {
  readonly role: KubeResource['role']
  readonly loaded: LoadedResource
  readonly policy: NormalizedPolicy | undefined
}

// 100 ms: long enough to fold a rollout's burst of pod events into one directory rebuild, short enough that a
// policy change is in force well within the 15 s flow-log interval it affects.
const DEFAULT_DEBOUNCE_MS = 100

/** Keeps the engine and the endpoint index in step with the cluster. */
export class KubernetesPolicySource {
  private readonly log: Logger
  private connection: KubeConnection | undefined
  private plan: WatchPlan | undefined
  private watches: ResourceWatch[] = []
  private readonly entries = new Map<string, Entry>()
  private readonly invalid = new Map<string, string>()
  private current: PolicySet | undefined
  private directory: InventoryDirectory | undefined
  private inventoryDirty = true
  private debounceTimer: NodeJS.Timeout | undefined
  private discoveryTimer: { timer: NodeJS.Timeout, resolve: () => void } | undefined
  private stopped = false
  private syncedAll: (() => void) | undefined
  private phase = 'connecting to the API server'
  private readonly counters = { reloads: 0, reloadErrors: 0, lastError: '', invalidObjects: 0 }

  constructor (private readonly options: KubernetesPolicySourceOptions) {
    this.log = options.logger
  }

  /** The set in force (undefined before the initial sync). */
  get set (): PolicySet | undefined { return this.current }

  /**
   * Connects, discovers, starts every watch and resolves with the first set once every initial list is in.
   * Rejects at once with ERR_KUBE_CONFIG when there is no configuration; API errors are retried, not thrown.
   */
  async load (): Promise<PolicySet> {
    this.connection = await KubeConnection.open({ kubeconfig: this.options.kubeconfig })
    this.log.info({ server: this.connection.server }, 'watching the Kubernetes API')
    this.plan = await this.discover(this.connection)
    if (this.stopped) throw new UnavailableError('the agent stopped before the initial sync')
    this.log.info({ calico: this.plan.calicoSources }, 'Calico API discovered')
    const synced = new Promise<void>(resolve => { this.syncedAll = resolve })
    for (const resource of this.plan.resources) {
      const watch = new ResourceWatch(this.connection, resource, {
        logger: this.log,
        backoff: this.options.newBackoff?.() ?? new WatchBackoff(),
        ...(this.options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: this.options.watchTimeoutSeconds }),
        onEvent: (r, type, object) => { this.onEvent(r, type, object) },
        onSynced: () => { if (this.watches.every(w => w.synced)) this.syncedAll?.() }
      })
      this.watches.push(watch)
    }
    this.phase = 'waiting for the initial list'
    for (const watch of this.watches) watch.start()
    await synced
    if (this.stopped) throw new UnavailableError('the agent stopped before the initial sync')
    this.publish()
    if (this.current === undefined) throw new ShadowflowError('ERR_RESOURCE_INVALID', `the initial policy set could not be applied: ${this.counters.lastError}`)
    return this.current
  }

  private async discover (connection: KubeConnection): Promise<WatchPlan> {
    const backoff = this.options.newBackoff?.() ?? new WatchBackoff()
    for (;;) {
      try {
        return await discoverWatchPlan(connection)
      } catch (error) {
        if (this.stopped) throw new UnavailableError('the agent stopped before the initial sync', error)
        const delayMs = backoff.next()
        this.phase = `API discovery failed: ${(error as Error).message}`
        this.log.warn({ error: (error as Error).message, attempt: backoff.attempts, retryInMs: delayMs }, 'API discovery failed; retrying')
        await new Promise<void>(resolve => { this.discoveryTimer = { timer: setTimeout(resolve, delayMs), resolve } })
        this.discoveryTimer = undefined
        if (this.stopped) throw new UnavailableError('the agent stopped before the initial sync', error)
      }
    }
  }

  private onEvent (resource: KubeResource, type: WatchEventType, object: Record<string, unknown>): void {
    const { namespace, name } = objectRef(object)
    const key = `${resourceName(resource)}/${namespace ?? ''}/${name}`
    if (type === 'delete') {
      this.invalid.delete(key)
      this.remove(key)
      return
    }
    const source = `kubernetes ${resourceName(resource)} ${namespace === undefined ? '' : `${namespace}/`}${name}`
    const result = validateApiObject(object, source)
    if (!result.ok) {
      const message = result.errors.map(e => `${e.location.field === undefined ? '' : `${e.location.field}: `}${e.message}`).join('; ')
      this.invalid.set(key, message)
      this.counters.invalidObjects++
      this.counters.reloadErrors++
      this.counters.lastError = `${source}: ${message}`
      this.log.warn({ kind: resource.kind, apiVersion: object.apiVersion, namespace, name, error: message, keptPrevious: this.entries.has(key) }, 'invalid object skipped')
      this.options.onRejected?.(result.errors)
      return
    }
    this.invalid.delete(key)
    const r = result.resource
    // A finished pod keeps its IP in status while the address may already belong to a new pod; Calico removes
    // the workload endpoint of a pod that is no longer running, and so does the index.
    if (r.kind === 'Pod' && (r.status?.phase === 'Succeeded' || r.status?.phase === 'Failed')) { this.remove(key); return }
    // Calico's API server lists Kubernetes policies converted (knp.default.<name>) among its NetworkPolicies;
    // they are read from networking.k8s.io/v1 already, and counting them twice would duplicate their rules.
    if (resource.group === CALICO_V3.group && r.kind === 'NetworkPolicy' && r.metadata.name.startsWith('knp.default.')) return
    const loaded: LoadedResource = { resource: r, origin: { file: source, line: 1 } }
    this.put(key, { role: resource.role, loaded, policy: normalizePolicy(r, loaded.origin) })
  }

  private put (key: string, entry: Entry): void {
    this.entries.set(key, entry)
    if (entry.role === 'inventory') this.inventoryDirty = true
    this.schedule()
  }

  private remove (key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    if (entry.role === 'inventory') this.inventoryDirty = true
    this.schedule()
  }

  private schedule (): void {
    // Nothing is published before every initial list is in (load() publishes the first set).
    if (this.current === undefined || this.stopped || this.debounceTimer !== undefined) return
    // Armed by the first change and not pushed back by later ones: a steady stream of pod events cannot starve
    // a policy change.
    this.debounceTimer = setTimeout(() => { this.debounceTimer = undefined; this.publish() }, this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS)
    this.debounceTimer.unref()
  }

  private publish (): void {
    const resources: LoadedResource[] = []
    const inventory: LoadedResource[] = []
    const policies: NormalizedPolicy[] = []
    const tiers: Tier[] = []
    // Sorted by key so that the set (and the engine's tie-breaks) do not depend on event order.
    for (const key of [...this.entries.keys()].sort()) {
      const entry = this.entries.get(key) as Entry
      resources.push(entry.loaded)
      if (entry.role === 'inventory') inventory.push(entry.loaded)
      if (entry.policy !== undefined) policies.push(entry.policy)
      if (entry.loaded.resource.kind === 'Tier') tiers.push(entry.loaded.resource)
    }
    const rebuild = this.inventoryDirty || this.directory === undefined
    const directory = rebuild ? new InventoryDirectory(inventory) : this.directory as InventoryDirectory
    const set: PolicySet = { generation: (this.current?.generation ?? 0) + 1, resources, directory, policies, tiers, loadedAtMs: Date.now() }
    try {
      this.options.apply(set)
    } catch (error) {
      const wrapped = error instanceof ShadowflowError ? error : new ShadowflowError('ERR_RESOURCE_INVALID', `the policy set could not be applied: ${(error as Error).message}`, { cause: error })
      this.counters.reloadErrors++
      this.counters.lastError = wrapped.message
      this.log.error({ err: wrapped, generation: this.current?.generation }, 'policy set rejected; the last good set stays in force')
      this.options.onRejected?.([wrapped])
      return
    }
    this.directory = directory
    this.inventoryDirty = false
    this.current = set
    this.counters.reloads++
    this.log.info({ generation: set.generation, resources: resources.length, policies: policies.length, directoryRebuilt: rebuild, invalidObjects: this.invalid.size }, 'policy set loaded')
  }

  /** What GetStatus and /readyz report. */
  status (): PolicySourceStatus {
    return policySourceStatus(this.current, this.counters)
  }

  /** Why the source is not ready yet (readiness detail before the initial sync). */
  notReadyDetail (): string {
    if (this.current !== undefined) return ''
    const waiting = this.watches.filter(w => !w.synced)
    if (this.watches.length === 0 || waiting.length === 0) return this.phase
    return `waiting for the initial list of ${waiting.map(w => `${resourceName(w.resource)}${w.error === '' ? '' : ` (${w.error})`}`).join(', ')}`
  }

  stats (): KubernetesSourceStats {
    return {
      calicoSources: this.plan?.calicoSources ?? {},
      resources: this.watches.map(w => ({ resource: resourceName(w.resource), synced: w.synced, objects: [...this.entries.keys()].filter(k => k.startsWith(`${resourceName(w.resource)}/`)).length, error: w.error, ...w.counters })),
      invalidObjects: this.invalid.size,
      publishes: this.counters.reloads
    }
  }

  /** Waits until pending changes are published (tests, shutdown). */
  async settled (): Promise<void> {
    while (this.debounceTimer !== undefined) await new Promise(resolve => setTimeout(resolve, 5))
  }

  stop (): void {
    this.stopped = true
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer)
    this.debounceTimer = undefined
    if (this.discoveryTimer !== undefined) { clearTimeout(this.discoveryTimer.timer); this.discoveryTimer.resolve() }
    for (const w of this.watches) void w.stop()
    // A load() still waiting for the initial lists gives up.
    this.syncedAll?.()
  }
}
