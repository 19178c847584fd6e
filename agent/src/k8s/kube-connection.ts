// The one place that talks HTTP to the Kubernetes API: configuration and credentials come from
// @kubernetes/client-node's KubeConfig (in-cluster service account with token rotation, or a kubeconfig file with
// its certificates, tokens and exec plugins); plain GETs (discovery, paged lists) go through node:http(s) with the
// options KubeConfig applies, so objects arrive as the API's JSON — not the client's typed models, which drop
// unknown fields and turn timestamps into Dates — exactly like the watch events do.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import type { KubeConfig, Watch } from '@kubernetes/client-node'
import { KubeApiError } from '../errors.js'

/** A list response: items and the resourceVersion to watch from. */
export interface KubeList {
  items: unknown[]
  metadata: { resourceVersion: string }
}

// Bounds a single GET (discovery, one list page); watches are long-lived and are not subject to it.
const REQUEST_TIMEOUT_MS = 60_000
// Page size of lists, as client-go's reflector uses: big clusters are listed in bounded chunks.
const LIST_PAGE_SIZE = 500
// A response body above this is refused rather than buffered (a page of 500 pods is a few MiB).
const MAX_BODY_BYTES = 256 * 1024 * 1024

export interface KubeConnectionOptions {
  /** A kubeconfig file; empty: the in-cluster service account. */
  kubeconfig: string
}

/** Credentials and transport for one API server. */
export class KubeConnection {
  private constructor (readonly config: KubeConfig, readonly server: string, private readonly client: typeof import('@kubernetes/client-node')) {}

  /** Loads the configuration; throws ERR_KUBE_CONFIG when there is none to use. */
  static async open (options: KubeConnectionOptions): Promise<KubeConnection> {
    // Loaded on demand: the module is large and only `--kubernetes` needs it.
    const client = await import('@kubernetes/client-node')
    const config = new client.KubeConfig()
    try {
      if (options.kubeconfig !== '') config.loadFromFile(options.kubeconfig)
      else config.loadFromCluster()
    } catch (cause) {
      throw new KubeApiError('ERR_KUBE_CONFIG', options.kubeconfig !== '' ? `cannot load --kubeconfig ${options.kubeconfig}: ${(cause as Error).message}` : `cannot load the in-cluster configuration: ${(cause as Error).message}`, { cause })
    }
    const cluster = config.getCurrentCluster()
    if (cluster === null || cluster.server === '' || cluster.server.includes('undefined')) {
      throw new KubeApiError('ERR_KUBE_CONFIG', options.kubeconfig !== ''
        ? `--kubeconfig ${options.kubeconfig} names no current cluster`
        : 'not running in a cluster (KUBERNETES_SERVICE_HOST is not set) and no --kubeconfig given')
    }
    return new KubeConnection(config, cluster.server.replace(/\/+$/, ''), client)
  }

  /** A watcher (the client's chunked-stream reader) bound to this configuration. */
  newWatch (): Watch { return new this.client.Watch(this.config) }

  /** The client module (ListWatch and friends). */
  get module (): typeof import('@kubernetes/client-node') { return this.client }

  /** GETs `path` as JSON; rejects with ERR_KUBE_API carrying the HTTP status (404 resolves to undefined when asked). */
  async getJson (path: string, options: { notFoundOk?: boolean, signal?: AbortSignal } = {}): Promise<unknown> {
    const url = new URL(this.server + path)
    const opts: RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } }
    await this.config.applyToHTTPSOptions(opts)
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...opts, headers: { ...opts.headers, Accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS, ...(options.signal === undefined ? {} : { signal: options.signal }) }, resolve)
      req.on('timeout', () => { req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)) })
      req.on('error', cause => { reject(new KubeApiError('ERR_KUBE_API', `GET ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`, { cause })) })
      req.end()
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of response) {
      size += (chunk as Buffer).length
      if (size > MAX_BODY_BYTES) { response.destroy(); throw new KubeApiError('ERR_KUBE_API', `GET ${path}: response larger than ${MAX_BODY_BYTES} bytes`) }
      chunks.push(chunk as Buffer)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    const status = response.statusCode ?? 0
    if (status === 404 && options.notFoundOk === true) return undefined
    if (status < 200 || status > 299) {
      // The API answers errors with a Status object whose message says what went wrong (RBAC, expired token).
      let message = ''
      try { message = String((JSON.parse(text) as { message?: unknown }).message ?? '') } catch { message = text.slice(0, 200) }
      throw new KubeApiError('ERR_KUBE_API', `GET ${path}: ${status} ${response.statusMessage ?? ''}${message === '' ? '' : `: ${message}`}`, { status })
    }
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new KubeApiError('ERR_KUBE_API', `GET ${path}: the answer is not JSON`, { status, cause })
    }
  }

  /** Lists a collection page by page; the resourceVersion is the consistent snapshot's (the first page's). */
  async list (path: string): Promise<KubeList> {
    const items: unknown[] = []
    let resourceVersion = ''
    let next = ''
    do {
      const query = new URLSearchParams({ limit: String(LIST_PAGE_SIZE) })
      if (next !== '') query.set('continue', next)
      const page = await this.getJson(`${path}?${query.toString()}`) as { items?: unknown, metadata?: { resourceVersion?: unknown, continue?: unknown } }
      if (!Array.isArray(page.items) && page.items !== null && page.items !== undefined) throw new KubeApiError('ERR_KUBE_API', `GET ${path}: the answer is not a list`)
      if (Array.isArray(page.items)) for (const item of page.items) items.push(item)
      if (resourceVersion === '') resourceVersion = typeof page.metadata?.resourceVersion === 'string' ? page.metadata.resourceVersion : ''
      next = typeof page.metadata?.continue === 'string' ? page.metadata.continue : ''
    } while (next !== '')
    return { items, metadata: { resourceVersion } }
  }
}
