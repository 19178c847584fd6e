// An in-process Kubernetes API server on 127.0.0.1:0 that speaks the list/watch protocol the real one does, for
// the watch code to be tested without a cluster:
// - discovery: GET /apis (APIGroupList) and GET /apis/<group>/<version> (APIResourceList), 404 for the rest;
// - lists: GET <collection>?limit=&continue= → {kind: <Kind>List, metadata: {resourceVersion, continue}, items}
//   whose items carry no apiVersion/kind (as the real server's JSON);
// - watches: GET <collection>?watch=true&resourceVersion=N → a chunked stream of JSON lines {type, object}
//   (ADDED/MODIFIED/DELETED with every event after N, then live ones; BOOKMARK when asked and allowed; an ERROR
//   event with a 410 Status when N is older than the compacted history, then the stream ends);
// - a bearer token is required (401 otherwise); failures can be injected (status for the next requests, a list
//   held back until released, watch streams dropped mid-stream).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> & { name: string, namespace?: string } }

/** One served collection. */
export interface FakeResource {
  group: string
  version: string
  plural: string
  kind: string
  namespaced: boolean
}

interface Event { type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj, rv: number }
interface OpenWatch { collection: string, res: ServerResponse, bookmarks: boolean }

/** A request the server saw (path and query), for assertions on resume points. */
export interface SeenRequest { path: string, query: URLSearchParams, watch: boolean }

function collectionOf (r: FakeResource): string {
  return r.group === '' ? `/api/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/${r.plural}`
}

/** A minimal, faithful list/watch API server. */
export class FakeKubeApiServer {
  readonly token = 'fake-token'
  readonly requests: SeenRequest[] = []
  private server: Server | undefined
  private rv = 100
  private readonly resources = new Map<string, FakeResource>()
  private readonly objects = new Map<string, Map<string, Obj>>()
  private readonly history = new Map<string, Event[]>()
  /** Events at or below this resourceVersion are compacted away (a watch from before it gets 410). */
  private compactedRv = 0
  private readonly watches = new Set<OpenWatch>()
  private readonly failures: Array<{ collection: string, watch: boolean | undefined, status: number }> = []
  private readonly held = new Map<string, Array<() => void>>()
  private readonly holding = new Set<string>()
  private pageSize = 0

  constructor (resources: readonly FakeResource[]) {
    for (const r of resources) {
      const c = collectionOf(r)
      this.resources.set(c, r)
      this.objects.set(c, new Map())
      this.history.set(c, [])
    }
  }

  async start (): Promise<string> {
    this.server = createServer((req, res) => { this.handle(req, res) })
    await new Promise<void>(resolve => { this.server?.listen(0, '127.0.0.1', resolve) })
    return this.url
  }

  get url (): string { return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}` }

  /** Writes a kubeconfig pointing at this server (plain HTTP is allowed by the client only with skip-verify). */
  writeKubeconfig (file: string): void {
    writeFileSync(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: fake',
      'clusters:', '- name: fake', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: fake', '  user:', `    token: ${this.token}`,
      'contexts:', '- name: fake', '  context: { cluster: fake, user: fake }', ''
    ].join('\n'))
  }

  async stop (): Promise<void> {
    for (const w of this.watches) w.res.destroy()
    this.watches.clear()
    for (const waiters of this.held.values()) for (const release of waiters) release()
    this.server?.closeAllConnections()
    await new Promise<void>(resolve => { if (this.server === undefined) resolve(); else this.server.close(() => { resolve() }) })
  }

  get resourceVersion (): number { return this.rv }

  private resourceFor (apiVersion: string, kind: string): string {
    for (const [c, r] of this.resources) if ((r.group === '' ? r.version : `${r.group}/${r.version}`) === apiVersion && r.kind === kind) return c
    throw new Error(`fake API server does not serve ${apiVersion} ${kind}`)
  }

  private key (o: Obj): string { return `${o.metadata.namespace ?? ''}/${o.metadata.name}` }

  /** Creates or replaces an object (ADDED or MODIFIED); returns its new resourceVersion. */
  apply (object: Record<string, unknown>): number {
    const o = structuredClone(object) as Obj
    const c = this.resourceFor(String(o.apiVersion), String(o.kind))
    const map = this.objects.get(c) as Map<string, Obj>
    const existed = map.has(this.key(o))
    this.rv++
    o.metadata.resourceVersion = String(this.rv)
    o.metadata.uid ??= `uid-${this.key(o)}`
    map.set(this.key(o), o)
    this.emit(c, { type: existed ? 'MODIFIED' : 'ADDED', object: o, rv: this.rv })
    return this.rv
  }

  /** Deletes an object (DELETED). */
  remove (apiVersion: string, kind: string, name: string, namespace?: string): number {
    const c = this.resourceFor(apiVersion, kind)
    const map = this.objects.get(c) as Map<string, Obj>
    const k = `${namespace ?? ''}/${name}`
    const o = map.get(k)
    if (o === undefined) throw new Error(`no ${kind} ${k}`)
    map.delete(k)
    this.rv++
    this.emit(c, { type: 'DELETED', object: { ...o, metadata: { ...o.metadata, resourceVersion: String(this.rv) } }, rv: this.rv })
    return this.rv
  }

  private emit (collection: string, event: Event): void {
    (this.history.get(collection) as Event[]).push(event)
    for (const w of this.watches) if (w.collection === collection) this.write(w, event.type, event.object)
  }

  private write (w: OpenWatch, type: string, object: unknown): void {
    w.res.write(`${JSON.stringify({ type, object })}\n`)
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark (): void {
    for (const w of this.watches) {
      const r = this.resources.get(w.collection) as FakeResource
      if (w.bookmarks) this.write(w, 'BOOKMARK', { kind: r.kind, apiVersion: r.group === '' ? r.version : `${r.group}/${r.version}`, metadata: { resourceVersion: String(this.rv) } })
    }
  }

  /** Forgets history up to now: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact (): void { this.compactedRv = this.rv }

  /** Closes every open watch stream (a dropped connection, an API server restart). */
  dropWatches (): void {
    for (const w of this.watches) w.res.end()
    this.watches.clear()
  }

  /** Sends an ERROR event with a 410 Status on every open watch, then ends it (etcd compaction mid-watch). */
  expireWatches (): void {
    for (const w of this.watches) {
      this.write(w, 'ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' })
      w.res.end()
    }
    this.watches.clear()
  }

  /** Answers the next `count` requests to `collection` (lists, watches or both) with `status`. */
  failNext (collection: string, status: number, count = 1, watch?: boolean): void {
    for (let i = 0; i < count; i++) this.failures.push({ collection, watch, status })
  }

  /** Holds lists of `collection` until release(collection). */
  hold (collection: string): void { this.holding.add(collection) }
  release (collection: string): void {
    this.holding.delete(collection)
    for (const r of this.held.get(collection) ?? []) r()
    this.held.delete(collection)
  }

  /** Pages lists by `size` items (0: no paging). */
  paginate (size: number): void { this.pageSize = size }

  /** Open watch streams (tests wait for the client to reconnect). */
  watchCount (collection?: string): number {
    return [...this.watches].filter(w => collection === undefined || w.collection === collection).length
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const query = url.searchParams
    const watch = query.get('watch') === 'true' || query.get('watch') === '1'
    this.requests.push({ path: url.pathname, query, watch })
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized')
    if (url.pathname === '/apis') return this.json(res, 200, this.groupList())
    const collection = url.pathname
    const resource = this.resources.get(collection)
    if (resource === undefined) {
      const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(url.pathname)
      const resources = gv === null ? [] : [...this.resources.values()].filter(r => r.group === gv[1] && r.version === gv[2])
      if (resources.length > 0) {
        return this.json(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${gv?.[1]}/${gv?.[2]}`,
          resources: resources.flatMap(r => [
            { name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
            { name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }
          ])
        })
      }
      return this.status(res, 404, 'NotFound', 'the server could not find the requested resource')
    }
    const failure = this.failures.findIndex(f => f.collection === collection && (f.watch === undefined || f.watch === watch))
    if (failure >= 0) {
      const f = this.failures.splice(failure, 1)[0] as { status: number }
      return this.status(res, f.status, f.status === 410 ? 'Expired' : 'InternalError', f.status === 410 ? 'too old resource version' : 'injected failure')
    }
    if (watch) return this.startWatch(collection, resource, query, res)
    if (this.holding.has(collection)) {
      const waiters = this.held.get(collection) ?? []
      waiters.push(() => { if (!res.destroyed) this.list(collection, resource, query, res) })
      this.held.set(collection, waiters)
      return
    }
    this.list(collection, resource, query, res)
  }

  private groupList (): unknown {
    const groups = new Map<string, Set<string>>()
    for (const r of this.resources.values()) if (r.group !== '') groups.set(r.group, (groups.get(r.group) ?? new Set()).add(r.version))
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: [...versions].map(v => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${[...versions][0] ?? ''}`, version: [...versions][0] }
      }))
    }
  }

  private list (collection: string, resource: FakeResource, query: URLSearchParams, res: ServerResponse): void {
    const all = [...(this.objects.get(collection) as Map<string, Obj>).values()]
      .sort((a, b) => (this.key(a) < this.key(b) ? -1 : 1))
      // The real server's list items carry no apiVersion/kind.
      .map(({ apiVersion: _a, kind: _k, ...rest }) => rest)
    const offset = Number(query.get('continue') ?? '0')
    const limit = Number(query.get('limit') ?? '0')
    const size = this.pageSize > 0 ? this.pageSize : limit > 0 ? limit : all.length
    const items = all.slice(offset, offset + size)
    const more = offset + size < all.length
    this.json(res, 200, {
      kind: `${resource.kind}List`,
      apiVersion: resource.group === '' ? resource.version : `${resource.group}/${resource.version}`,
      metadata: { resourceVersion: String(this.rv), ...(more ? { continue: String(offset + size) } : {}) },
      items
    })
  }

  private startWatch (collection: string, resource: FakeResource, query: URLSearchParams, res: ServerResponse): void {
    const from = Number(query.get('resourceVersion') ?? '0')
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' })
    // As the real server: the status line goes out at once, before any event.
    res.flushHeaders()
    const w: OpenWatch = { collection, res, bookmarks: query.get('allowWatchBookmarks') === 'true' }
    if (from > 0 && from < this.compactedRv) {
      this.write(w, 'ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from} (${this.compactedRv})` })
      res.end()
      return
    }
    for (const e of this.history.get(collection) as Event[]) if (e.rv > from) this.write(w, e.type, e.object)
    this.watches.add(w)
    res.on('close', () => { this.watches.delete(w) })
    void resource
  }

  private json (res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  private status (res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code })
  }
}

/** The resources a Kubernetes cluster serves, plus Calico's under `calico` ('v3': its API server; 'crd': CRDs only). */
export function clusterResources (calico: 'v3' | 'crd' | 'none'): FakeResource[] {
  const list: FakeResource[] = [
    { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
    { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
    { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
    { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
    { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true }
  ]
  if (calico === 'none') return list
  const api = calico === 'v3' ? { group: 'projectcalico.org', version: 'v3' } : { group: 'crd.projectcalico.org', version: 'v1' }
  const kinds: Array<[string, string, boolean]> = [
    ['tiers', 'Tier', false], ['networkpolicies', 'NetworkPolicy', true], ['globalnetworkpolicies', 'GlobalNetworkPolicy', false],
    ['stagednetworkpolicies', 'StagedNetworkPolicy', true], ['stagedglobalnetworkpolicies', 'StagedGlobalNetworkPolicy', false],
    ['stagedkubernetesnetworkpolicies', 'StagedKubernetesNetworkPolicy', true], ['networksets', 'NetworkSet', true],
    ['globalnetworksets', 'GlobalNetworkSet', false], ['hostendpoints', 'HostEndpoint', false]
  ]
  for (const [plural, kind, namespaced] of kinds) list.push({ ...api, plural, kind, namespaced })
  return list
}
