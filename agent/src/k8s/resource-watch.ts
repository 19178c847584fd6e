// One resource kept in sync with the API: @kubernetes/client-node's ListWatch (list, then watch from the list's
// resourceVersion; its cache; relist on 410 Gone, whether the watch request answers 410 or the stream sends an
// ERROR event with code 410 before closing) with what it leaves to the caller:
// - it asks for bookmarks (allowWatchBookmarks) and a server-side timeout, randomized like client-go's reflector
//   (5–10 min) so the agents of a cluster do not all reconnect at once;
// - an error (list failed, watch refused, connection reset) stops a ListWatch for good: it is restarted here
//   after a capped, jittered exponential backoff, resuming from the last resourceVersion seen;
// - a watch that ends at once without progress (an API server closing every stream) is delayed by the same
//   backoff instead of being reopened in a tight loop; one that made progress is reopened at once;
// - "synced": the ListWatch calls watch() only after it delivered a complete list, so the first call marks the
//   cache as synced (readiness waits for that on every resource);
// - objects are shaped (api-object.ts) before the cache keeps them, both list items and watch events.
import type { KubernetesListObject, KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node'
import type { Logger } from '../telemetry/logger.js'
import { shapeApiObject } from './api-object.js'
import type { KubeConnection } from './kube-connection.js'
import { collectionPath, resourceName, type KubeResource } from './kube-resources.js'
import { WatchBackoff } from './watch-backoff.js'

export type WatchEventType = 'add' | 'update' | 'delete'

/** Counters of one resource's watch (GetStatus, /debug, tests). */
export interface ResourceWatchStats {
  lists: number
  watches: number
  errors: number
  gone: number
  bookmarks: number
  events: number
}

export interface ResourceWatchOptions {
  logger: Logger
  onEvent: (resource: KubeResource, type: WatchEventType, object: Record<string, unknown>) => void
  /** Called once, when the first complete list has been delivered. */
  onSynced: (resource: KubeResource) => void
  backoff?: WatchBackoff
  /** Server-side watch timeout range in seconds (default 300–600, as client-go). */
  watchTimeoutSeconds?: readonly [number, number]
}

// A watch that lasted less than this and delivered nothing counts as a failure for the backoff.
const QUICK_END_MS = 1000

/** Lists and watches one resource until stopped. */
export class ResourceWatch {
  readonly counters: ResourceWatchStats = { lists: 0, watches: 0, errors: 0, gone: 0, bookmarks: 0, events: 0 }
  private listWatch: ListWatch<KubernetesObject> | undefined
  private readonly backoff: WatchBackoff
  private readonly log: Logger
  private restartTimer: NodeJS.Timeout | undefined
  private delayTimer: { timer: NodeJS.Timeout, resolve: () => void } | undefined
  private nextWatchDelayMs = 0
  private isSynced = false
  private stopped = false
  private lastError = ''

  constructor (private readonly connection: KubeConnection, readonly resource: KubeResource, private readonly options: ResourceWatchOptions) {
    this.backoff = options.backoff ?? new WatchBackoff()
    this.log = options.logger.child({ resource: resourceName(resource) })
  }

  get synced (): boolean { return this.isSynced }

  /** The last error met ('' after a successful list or watch). */
  get error (): string { return this.lastError }

  start (): void {
    const { connection, resource } = this
    const path = collectionPath(resource)
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      this.counters.lists++
      const list = await connection.list(path)
      return { metadata: { resourceVersion: list.metadata.resourceVersion }, items: list.items.map(item => shapeApiObject(item, resource) as KubernetesObject) }
    }
    const watcher = { watch: this.watch.bind(this, connection.newWatch()) } as unknown as Watch
    const lw = new connection.module.ListWatch<KubernetesObject>(path, watcher, listFn, false)
    lw.on('add', obj => { this.options.onEvent(resource, 'add', obj as Record<string, unknown>) })
    lw.on('update', obj => { this.options.onEvent(resource, 'update', obj as Record<string, unknown>) })
    lw.on('delete', obj => { this.options.onEvent(resource, 'delete', obj as Record<string, unknown>) })
    lw.on('error', (err?: unknown) => { this.failed(err) })
    this.listWatch = lw
    void lw.start()
  }

  private failed (err: unknown): void {
    if (this.stopped) return // stop() aborts the stream, which reports an AbortError
    this.counters.errors++
    const e = err as { statusCode?: number, status?: number, message?: string } | undefined
    this.lastError = `${e?.statusCode ?? (e?.status !== undefined && e.status !== 0 ? e.status : '')} ${e?.message ?? String(err)}`.trim()
    const delayMs = this.backoff.next()
    this.log.warn({ status: e?.statusCode ?? e?.status, error: e?.message ?? String(err), attempt: this.backoff.attempts, retryInMs: delayMs }, 'watch failed; retrying')
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      if (!this.stopped) void this.listWatch?.start()
    }, delayMs)
  }

  // Stands in for Watch.watch: ListWatch calls it after each complete list and to resume after a stream ended.
  private async watch (inner: Watch, path: string, params: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, object: unknown, raw?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    if (!this.isSynced) {
      this.isSynced = true
      this.log.debug({ objects: this.listWatch?.list().length }, 'initial list synced')
      this.options.onSynced(this.resource)
    }
    if (this.nextWatchDelayMs > 0) {
      const ms = this.nextWatchDelayMs
      this.nextWatchDelayMs = 0
      await new Promise<void>(resolve => { this.delayTimer = { timer: setTimeout(resolve, ms), resolve } })
      this.delayTimer = undefined
    }
    if (this.stopped) return new AbortController()
    this.counters.watches++
    const startedAt = Date.now()
    let progress = false
    const [low, high] = this.options.watchTimeoutSeconds ?? [300, 600]
    const timeoutSeconds = Math.floor(low + Math.random() * (high - low))
    const controller = await inner.watch(path, { ...params, allowWatchBookmarks: true, timeoutSeconds }, (phase, object, raw) => {
      switch (phase) {
        case 'ADDED': case 'MODIFIED': case 'DELETED':
          progress = true
          this.counters.events++
          callback(phase, shapeApiObject(object, this.resource), raw)
          return
        case 'BOOKMARK':
          progress = true
          this.counters.bookmarks++
          callback(phase, object, raw)
          return
        case 'ERROR': {
          const status = object as { code?: number, message?: string } | undefined
          if (status?.code === 410) this.counters.gone++
          this.log.info({ code: status?.code, error: status?.message }, status?.code === 410 ? 'watch expired (410 Gone); relisting' : 'watch error event')
          callback(phase, object, raw)
          return
        }
        default:
          this.counters.errors++
      }
    }, err => {
      if (err === null || err === undefined) {
        if (progress || Date.now() - startedAt >= QUICK_END_MS) { this.backoff.reset(); this.lastError = '' } else this.nextWatchDelayMs = this.backoff.next()
      }
      done(err)
    })
    // The client returns the stream's controller only once the response headers are in; a stop() in between
    // found nothing to abort, so the stream is closed here instead of holding a socket (and the process) open.
    if (this.stopped) controller.abort()
    return controller
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer)
    if (this.delayTimer !== undefined) { clearTimeout(this.delayTimer.timer); this.delayTimer.resolve() }
    await this.listWatch?.stop()
  }
}
