// The agent's debug HTTP server (node:http, loopback by default): /healthz, /readyz, /metrics and /debug/*
// views of the running pipeline. GET/HEAD only, bounded URL and headers, no request bodies; unknown paths get a
// JSON 404. JSON by default; `?format=text` or `Accept: text/plain` where a person reads it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ShadowflowError, UsageError } from '../errors.js'
import { resolveDestination, resolveFlowEnd } from '../endpoints/flow-endpoint-resolver.js'
import type { InventoryDirectory } from '../endpoints/inventory-directory.js'
import { isPendingChanged } from '../flows/flow-filter.js'
import type { FlowLog } from '../flows/flow-log.js'
import type { RawFlow } from '../flows/raw-flow.js'
import type { FlowInput, PolicyEngine } from '../policy/policy-engine.js'
import { formatIp } from '../policy/ip-address.js'
import { protocolName } from '../policy/protocol.js'
import { formatPipeline, makeStyle } from '../cli/format-verdicts.js'
import { parsePort, parseProtocol } from '../cli/parse-flow-spec.js'
import type { Logger } from '../telemetry/logger.js'

/** Longest request target accepted (414 beyond). */
export const MAX_URL_BYTES = 4096
/** Largest total request header size (431 beyond, enforced by node:http). */
export const MAX_HEADER_BYTES = 16 * 1024

/** One readiness condition. */
export interface ReadinessCheck { readonly name: string, readonly ok: boolean, readonly detail: string }

/** What the debug server shows; the agent provides it. */
export interface DebugContext {
  readiness: () => ReadinessCheck[]
  metricsText: () => Promise<string>
  engine: () => PolicyEngine
  directory: () => InventoryDirectory | undefined
  isLocal: (endpoint: { nodeName: string | undefined }) => boolean
  flowLogs: () => readonly FlowLog[]
  rawFlows: () => readonly RawFlow[]
  config: () => Record<string, unknown>
  logger: Logger
}

class HttpError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

function wantsText (url: URL, req: IncomingMessage): boolean {
  const format = url.searchParams.get('format')
  if (format !== null) {
    if (format !== 'text' && format !== 'json') throw new HttpError(400, `format must be "text" or "json", not "${format}"`)
    return format === 'text'
  }
  const accept = req.headers.accept ?? ''
  return accept.includes('text/plain') && !accept.includes('application/json')
}

function send (res: ServerResponse, status: number, body: string, type: string, head: boolean): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(head ? undefined : body)
}

/** The debug server. */
export class DebugServer {
  private server: Server | undefined

  constructor (private readonly ctx: DebugContext) {}

  /** Listens on `host:port`; resolves with the bound address. */
  async listen (host: string, port: number): Promise<AddressInfo> {
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => { this.handle(req, res) })
    // Idle keep-alive connections must not hold shutdown up.
    server.keepAliveTimeout = 2_000
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    return server.address() as AddressInfo
  }

  async close (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const head = req.method === 'HEAD'
    const fail = (status: number, message: string): void => { send(res, status, JSON.stringify({ error: message, status }) + '\n', 'application/json', head) }
    if ((req.url ?? '').length > MAX_URL_BYTES) { fail(414, `request target longer than ${MAX_URL_BYTES} bytes`); return }
    if (req.method !== 'GET' && !head) { res.setHeader('allow', 'GET, HEAD'); fail(405, 'only GET and HEAD are served'); return }
    const length = Number(req.headers['content-length'] ?? 0)
    if (length > 0 || req.headers['transfer-encoding'] !== undefined) {
      // The unread body would poison a kept-alive connection: close it once the answer is out.
      res.setHeader('connection', 'close')
      fail(413, 'requests carry no body here')
      return
    }
    let url: URL
    try { url = new URL(req.url ?? '/', 'http://localhost') } catch { fail(400, 'malformed request target'); return }
    this.route(url, req).then(({ status, body, type }) => { send(res, status, body, type, head) }, (error: unknown) => {
      if (error instanceof HttpError) { fail(error.status, error.message); return }
      if (error instanceof ShadowflowError) { fail(400, `${error.describe()} [${error.code}]`); return }
      this.ctx.logger.error({ err: error, path: url.pathname }, 'debug request failed')
      fail(500, 'internal error (see the agent log)')
    })
  }

  private async route (url: URL, req: IncomingMessage): Promise<{ status: number, body: string, type: string }> {
    const json = (value: unknown, status = 200): { status: number, body: string, type: string } => ({ status, body: JSON.stringify(value, null, 2) + '\n', type: 'application/json' })
    const text = (body: string, status = 200): { status: number, body: string, type: string } => ({ status, body: body.endsWith('\n') ? body : body + '\n', type: 'text/plain' })
    switch (url.pathname) {
      case '/healthz':
        return wantsText(url, req) ? text('ok') : json({ status: 'ok' })
      case '/readyz': {
        const checks = this.ctx.readiness()
        const ready = checks.every(c => c.ok)
        const status = ready ? 200 : 503
        if (wantsText(url, req)) return text([ready ? 'ready' : 'not ready', ...checks.map(c => `${c.ok ? '[+]' : '[-]'} ${c.name}: ${c.detail}`)].join('\n'), status)
        return json({ ready, checks }, status)
      }
      case '/metrics':
        return { status: 200, body: await this.ctx.metricsText(), type: 'text/plain; version=0.0.4' }
      case '/debug/policies':
        return this.policies(wantsText(url, req))
      case '/debug/endpoints':
        return this.endpoints(wantsText(url, req))
      case '/debug/flows':
        return this.flows(url, wantsText(url, req))
      case '/debug/explain':
        return this.explain(url, wantsText(url, req))
      case '/debug/config':
        return wantsText(url, req)
          ? text(Object.entries(this.ctx.config()).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n'))
          : json(this.ctx.config())
      case '/':
      case '/debug':
        return json({ paths: ['/healthz', '/readyz', '/metrics', '/debug/policies', '/debug/endpoints', '/debug/flows?namespace=&port=&action=&pending_changed=&kind=raw', '/debug/explain?from=&to=&protocol=&port=', '/debug/config'] })
      default:
        throw new HttpError(404, `no such path: ${url.pathname} (see /debug for the list)`)
    }
  }

  private policies (asText: boolean): { status: number, body: string, type: string } {
    const engine = this.ctx.engine()
    const view = (pipeline: 'enforced' | 'pending'): unknown => engine.view(pipeline).tiers.map(({ tier, policies }) => ({
      tier: tier.name,
      order: tier.order ?? null,
      defaultAction: tier.defaultAction,
      policies: policies.map(p => ({
        kind: p.ref.kind,
        namespace: p.ref.namespace ?? '',
        name: p.ref.name,
        order: p.order ?? null,
        selector: p.selector,
        types: p.types,
        ...(p.staged ? { staged: true, stagedAction: p.stagedAction } : {}),
        ...(p.origin === undefined ? {} : { origin: `${p.origin.file}:${p.origin.line}` })
      }))
    }))
    if (!asText) return { status: 200, body: JSON.stringify({ stagedMode: engine.stagedMode, enforced: view('enforced'), pending: view('pending') }, null, 2) + '\n', type: 'application/json' }
    const lines: string[] = [`staged mode: ${engine.stagedMode}`]
    for (const pipeline of ['enforced', 'pending'] as const) {
      lines.push('', pipeline.toUpperCase())
      for (const { tier, policies } of engine.view(pipeline).tiers) {
        lines.push(`  tier ${tier.name} (order ${tier.order ?? 'none'}, default ${tier.defaultAction})`)
        policies.forEach((p, i) => lines.push(`    ${i + 1}. ${p.ref.kind} ${p.ref.namespace === undefined ? '' : `${p.ref.namespace}/`}${p.ref.name} (order ${p.order ?? 'none'})${p.staged ? ' [staged]' : ''}`))
      }
    }
    return { status: 200, body: lines.join('\n') + '\n', type: 'text/plain' }
  }

  private endpoints (asText: boolean): { status: number, body: string, type: string } {
    const directory = this.ctx.directory()
    const workloads = (directory?.workloads ?? []).map(w => ({ kind: 'WorkloadEndpoint', namespace: w.namespace, name: w.name, flowName: w.aggregatedName, ips: w.ips.map(formatIp), nodeName: w.nodeName ?? '', local: this.ctx.isLocal(w), serviceAccount: w.serviceAccount, labels: w.labels }))
    const hosts = (directory?.hostEndpoints ?? []).map(h => ({ kind: 'HostEndpoint', name: h.name, ips: h.ips.map(formatIp), nodeName: h.nodeName ?? '', local: this.ctx.isLocal(h), labels: h.labels }))
    const sets = (directory?.networkSets ?? []).map(s => ({ kind: s.namespace === undefined ? 'GlobalNetworkSet' : 'NetworkSet', namespace: s.namespace ?? '', name: s.name, nets: s.nets.map(c => c.text), labels: s.labels }))
    if (!asText) return { status: 200, body: JSON.stringify({ workloadEndpoints: workloads, hostEndpoints: hosts, networkSets: sets }, null, 2) + '\n', type: 'application/json' }
    const lines = [
      ...workloads.map(w => `pod  ${w.namespace}/${w.name}  ${w.ips.join(',')}  node=${w.nodeName}${w.local ? ' (local)' : ''}`),
      ...hosts.map(h => `hep  ${h.name}  ${h.ips.join(',')}  node=${h.nodeName}${h.local ? ' (local)' : ''}`),
      ...sets.map(s => `set  ${s.namespace === '' ? '' : `${s.namespace}/`}${s.name}  ${s.nets.join(',')}`)
    ]
    return { status: 200, body: lines.join('\n') + '\n', type: 'text/plain' }
  }

  private flows (url: URL, asText: boolean): { status: number, body: string, type: string } {
    const namespace = url.searchParams.get('namespace')
    const port = url.searchParams.get('port')
    const action = url.searchParams.get('action')
    const pendingChanged = url.searchParams.get('pending_changed')
    const kind = url.searchParams.get('kind') ?? 'logs'
    if (kind !== 'logs' && kind !== 'raw') throw new HttpError(400, `kind must be "logs" or "raw", not "${kind}"`)
    const portNumber = port === null ? undefined : parsePort(port)
    let actionName: 'Allow' | 'Deny' | undefined
    if (action !== null) {
      const a = action.toLowerCase()
      if (a !== 'allow' && a !== 'deny') throw new HttpError(400, `action must be Allow or Deny, not "${action}"`)
      actionName = a === 'allow' ? 'Allow' : 'Deny'
    }
    if (pendingChanged !== null && pendingChanged !== 'true' && pendingChanged !== 'false') throw new HttpError(400, 'pending_changed must be true or false')
    const wantChanged = pendingChanged === null ? undefined : pendingChanged === 'true'
    if (kind === 'raw') {
      const flows = this.ctx.rawFlows().filter(f =>
        (namespace === null || f.sourceNamespace === namespace || f.destNamespace === namespace) &&
        (portNumber === undefined || f.destPort === portNumber) &&
        (actionName === undefined || f.enforcedAction === actionName) &&
        (wantChanged === undefined || (f.pendingAction !== f.enforcedAction) === wantChanged))
      if (!asText) return { status: 200, body: JSON.stringify({ flows }, null, 2) + '\n', type: 'application/json' }
      return { status: 200, body: flows.map(f => `${f.sourceIp}:${f.sourcePort} -> ${f.destIp}:${f.destPort} ${f.proto}  ${f.sourceNamespace}/${f.sourceName} -> ${f.destNamespace}/${f.destName}  enforced=${f.enforcedAction} pending=${f.pendingAction}`).join('\n') + '\n', type: 'text/plain' }
    }
    const flows = this.ctx.flowLogs().filter(f =>
      (namespace === null || f.key.sourceNamespace === namespace || f.key.destNamespace === namespace) &&
      (portNumber === undefined || f.key.destPort === portNumber) &&
      (actionName === undefined || f.key.action === actionName) &&
      (wantChanged === undefined || isPendingChanged(f.key) === wantChanged))
    if (!asText) return { status: 200, body: JSON.stringify({ flows }, null, 2) + '\n', type: 'application/json' }
    const lines = flows.map(f => {
      const k = f.key
      const name = (ns: string, n: string): string => ns === '' ? n : `${ns}/${n}`
      return `${f.startTime}  ${name(k.sourceNamespace, k.sourceName)} -> ${name(k.destNamespace, k.destName)}:${k.destPort}/${k.proto}  reporter=${k.reporter} action=${k.action}${isPendingChanged(k) ? ' PENDING-CHANGED' : ''}  pkts=${f.packetsIn + f.packetsOut} bytes=${f.bytesIn + f.bytesOut}`
    })
    return { status: 200, body: lines.join('\n') + '\n', type: 'text/plain' }
  }

  private explain (url: URL, asText: boolean): { status: number, body: string, type: string } {
    const directory = this.ctx.directory()
    if (directory === undefined) throw new HttpError(503, 'no policy set loaded yet')
    const from = url.searchParams.get('from')
    const to = url.searchParams.get('to')
    if (from === null || to === null) throw new UsageError('give from= and to= (namespace/pod or IP)')
    const src = resolveFlowEnd(from, directory)
    const protocol = parseProtocol(url.searchParams.get('protocol') ?? undefined)
    const port = parsePort(url.searchParams.get('port') ?? undefined)
    const dst = resolveDestination(resolveFlowEnd(to, directory), protocol, port, directory)
    const flow: FlowInput = { src, dst, protocol }
    const verdicts = this.ctx.engine().evaluate(flow)
    if (!asText) {
      return {
        status: 200,
        body: JSON.stringify({ from: src.label, to: dst.label, protocol: protocolName(protocol), ...(port === undefined ? {} : { port }), enforced: verdicts.enforced, pending: verdicts.pending, ...(verdicts.unobservable.length > 0 ? { unobservable: verdicts.unobservable } : {}) }, null, 2) + '\n',
        type: 'application/json'
      }
    }
    const style = makeStyle(false)
    const changed = verdicts.enforced.action !== verdicts.pending.action
    const body = [
      `Flow     ${src.label} -> ${dst.label}  ${protocolName(protocol)}${port === undefined ? '' : `/${port}`}`,
      '',
      formatPipeline('ENFORCED', verdicts.enforced, src.label, dst.label, style, false),
      '',
      formatPipeline('PENDING', verdicts.pending, src.label, dst.label, style, changed)
    ].join('\n')
    return { status: 200, body: body + '\n', type: 'text/plain' }
  }
}

