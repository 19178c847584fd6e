// Policy and inventory from `-f` paths, watched: fs.watch (debounced) for prompt reloads, plus a periodic stat
// of every file because fs.watch misses atomic renames (editors, ConfigMap symlink swaps) and network file
// systems. A change is read and validated as a whole; a valid set is applied atomically (new directory and
// policies in the engine, new resolver in the aggregator); an invalid one is rejected — each error logged with
// file:line: field, counted — and the last good set stays in force.
import { watch, type FSWatcher } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ShadowflowError } from '../errors.js'
import { InventoryDirectory } from '../endpoints/inventory-directory.js'
import { readResourceFiles } from '../io/read-resource-files.js'
import { normalizePolicies, type NormalizedPolicy } from '../policy/normalized-policy.js'
import type { LoadedResource, Tier } from '../policy/resources.js'
import type { Logger } from '../telemetry/logger.js'

/** One accepted policy/inventory set. */
export interface PolicySet {
  readonly generation: number
  readonly resources: readonly LoadedResource[]
  readonly directory: InventoryDirectory
  readonly policies: readonly NormalizedPolicy[]
  readonly tiers: readonly Tier[]
  readonly loadedAtMs: number
}

/** What GetStatus and /readyz report about policy loading. */
export interface PolicySourceStatus {
  readonly generation: number
  readonly policiesLoaded: number
  readonly stagedPoliciesLoaded: number
  readonly reloads: number
  readonly reloadErrors: number
  readonly lastError: string
  readonly lastReloadTimeMs: number
}

/** The status of a policy source (files or the Kubernetes API) from its policy set in force and its counters. */
export function policySourceStatus (set: PolicySet | undefined, counters: { reloads: number, reloadErrors: number, lastError: string }): PolicySourceStatus {
  return {
    generation: set?.generation ?? 0,
    policiesLoaded: set?.policies.length ?? 0,
    stagedPoliciesLoaded: set?.policies.filter(p => p.staged).length ?? 0,
    reloads: counters.reloads,
    reloadErrors: counters.reloadErrors,
    lastError: counters.lastError,
    lastReloadTimeMs: set?.loadedAtMs ?? 0
  }
}

export interface PolicySourceOptions {
  paths: readonly string[]
  logger: Logger
  /** Applies an accepted set; throwing rejects it (the previous set must then still be in force). */
  apply: (set: PolicySet) => void
  /** Called for every rejected reload (metrics). */
  onRejected?: (errors: readonly ShadowflowError[]) => void
  watch?: boolean
  pollMs?: number
  debounceMs?: number
}

/** Loads `-f` paths, then keeps them in force as they change. */
export class PolicySource {
  private current: PolicySet | undefined
  private watchers: FSWatcher[] = []
  private pollTimer: NodeJS.Timeout | undefined
  private debounceTimer: NodeJS.Timeout | undefined
  private fingerprint = ''
  private reloading: Promise<void> | undefined
  private again = false
  private stopped = false
  private counters = { reloads: 0, reloadErrors: 0, lastError: '' }
  private readonly log: Logger

  constructor (private readonly options: PolicySourceOptions) {
    this.log = options.logger
  }

  /** The set in force (undefined before the first successful load). */
  get set (): PolicySet | undefined { return this.current }

  /** Loads the files; throws ERR_RESOURCE_INVALID listing every error when the first load fails. */
  async load (): Promise<PolicySet> {
    this.fingerprint = await this.computeFingerprint()
    const errors = await this.reload()
    if (errors.length > 0 || this.current === undefined) {
      throw new ShadowflowError('ERR_RESOURCE_INVALID', `${errors.length} error${errors.length === 1 ? '' : 's'} in the policy and inventory files:\n  ${errors.map(e => `${e.describe()} [${e.code}]`).join('\n  ')}`)
    }
    if (this.options.watch ?? true) this.startWatching()
    return this.current
  }

  /** Reads and applies the files now; returns the errors of a rejected set (empty when accepted). */
  async reload (): Promise<readonly ShadowflowError[]> {
    const { resources, errors } = await readResourceFiles([...this.options.paths])
    if (errors.length === 0) {
      const generation = (this.current?.generation ?? 0) + 1
      try {
        const set: PolicySet = {
          generation,
          resources,
          directory: new InventoryDirectory(resources),
          policies: normalizePolicies(resources),
          tiers: resources.map(r => r.resource).filter((r): r is Tier => r.kind === 'Tier'),
          loadedAtMs: Date.now()
        }
        this.options.apply(set)
        this.current = set
        this.counters.reloads++
        this.counters.lastError = ''
        this.log.info({ generation, resources: resources.length, policies: set.policies.length }, 'policy set loaded')
        return []
      } catch (error) {
        const wrapped = error instanceof ShadowflowError ? error : new ShadowflowError('ERR_RESOURCE_INVALID', `the policy set could not be applied: ${(error as Error).message}`, { cause: error })
        errors.push(wrapped)
      }
    }
    this.counters.reloadErrors++
    this.counters.lastError = errors.map(e => e.describe()).join('; ')
    for (const e of errors) {
      this.log.error({ code: e.code, file: e.location.file, line: e.location.line, field: e.location.field, error: e.describe() }, 'policy file rejected')
    }
    if (this.current !== undefined) {
      this.log.warn({ errors: errors.length, generation: this.current.generation }, 'policy reload rejected; the last good set stays in force')
    }
    this.options.onRejected?.(errors)
    return errors
  }

  private startWatching (): void {
    this.armWatchers()
    const pollMs = this.options.pollMs ?? 5000
    this.pollTimer = setInterval(() => {
      this.computeFingerprint().then(fp => { if (fp !== this.fingerprint) this.schedule() }, () => { this.schedule() })
    }, pollMs)
    this.pollTimer.unref()
  }

  private armWatchers (): void {
    for (const w of this.watchers) w.close()
    this.watchers = []
    for (const path of this.options.paths) {
      if (path === '-') continue
      // A file is watched through its directory: an editor's rename-over replaces the inode a file watch holds.
      for (const target of [path, dirname(path)]) {
        try {
          const w = watch(target, { persistent: false, recursive: target === path }, () => { this.schedule() })
          w.on('error', () => { /* the periodic check still covers this path */ })
          this.watchers.push(w)
        } catch {
          // Not a directory (recursive on a file) or gone: the periodic check covers it.
        }
      }
    }
  }

  private schedule (): void {
    if (this.stopped) return
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer)
    this.debounceTimer = setTimeout(() => { this.debounceTimer = undefined; this.runReload() }, this.options.debounceMs ?? 200)
    this.debounceTimer.unref()
  }

  private runReload (): void {
    if (this.reloading !== undefined) { this.again = true; return }
    this.reloading = (async () => {
      const fp = await this.computeFingerprint().catch(() => '')
      if (fp === this.fingerprint && fp !== '') return
      this.fingerprint = fp
      await this.reload()
      this.armWatchers()
    })().catch((error: unknown) => { this.log.error({ err: error }, 'policy reload failed') }).finally(() => {
      this.reloading = undefined
      if (this.again && !this.stopped) { this.again = false; this.runReload() }
    })
  }

  /** Waits for a reload in progress (tests, shutdown). */
  async settled (): Promise<void> { await this.reloading }

  private async computeFingerprint (): Promise<string> {
    const parts: string[] = []
    for (const path of this.options.paths) {
      if (path === '-') continue
      await fingerprintPath(path, parts)
    }
    return parts.join('\n')
  }

  status (): PolicySourceStatus {
    return policySourceStatus(this.current, this.counters)
  }

  stop (): void {
    this.stopped = true
    for (const w of this.watchers) w.close()
    this.watchers = []
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer)
  }
}

async function fingerprintPath (path: string, parts: string[]): Promise<void> {
  try {
    const info = await stat(path)
    if (!info.isDirectory()) { parts.push(`${path}|${info.size}|${info.mtimeMs}|${info.ino}`); return }
    const entries = await readdir(path, { recursive: true })
    for (const entry of entries.sort()) {
      const full = join(path, entry)
      try {
        const e = await stat(full)
        if (e.isFile()) parts.push(`${full}|${e.size}|${e.mtimeMs}|${e.ino}`)
      } catch { parts.push(`${full}|gone`) }
    }
  } catch (error) {
    parts.push(`${path}|${(error as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}
