// Wires the aggregator: flow store, resend deduplicator and node registry behind one gRPC server serving
// goldmane.FlowCollector, goldmane.Flows, goldmane.Statistics, shadowflow.v1.Impact and shadowflow.v1.Nodes
// (plus health and reflection from grpc-server.ts), and an optional Prometheus endpoint.
import { randomUUID } from 'node:crypto'
import { createServer, type Server as HttpServer } from 'node:http'
import * as grpc from '@grpc/grpc-js'
import type { Registry } from 'prom-client'
import { parseListenAddress } from '../config/config-layers.js'
import { UsageError } from '../errors.js'
import { createGrpcServer, type GrpcServerOptions } from '../grpc/grpc-server.js'
import type { GrpcStatus } from '../grpc/grpc-status.js'
import { loadProtos, SERVICE_NAMES } from '../grpc/load-protos.js'
import { clientCredentialsFromMaterial, readTlsMaterial, serverCredentialsFromMaterial, type TlsFiles, type TlsMode } from '../grpc/tls-credentials.js'
import { silentLogger, type Logger } from '../telemetry/logger.js'
import { createAggregatorMetrics } from './aggregator-metrics.js'
import { createFlowCollectorService } from './flow-collector-service.js'
import { FlowStore } from './flow-store.js'
import { createFlowsService, LiveCalls } from './flows-service.js'
import { createImpactService } from './impact-service.js'
import { NodeClientPool } from './node-client-pool.js'
import { NodeRegistry } from './node-registry.js'
import { createNodesService } from './nodes-service.js'
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from './query-requests.js'
import { ResendDeduplicator } from './resend-deduplicator.js'
import { createStatisticsService } from './statistics-service.js'

/** Everything `shadowflow aggregator` can configure. */
export interface AggregatorOptions {
  /** host:port to serve gRPC on (port 0 = any free port). */
  listen: string
  retentionSeconds?: number
  maxFlows?: number
  /** Bound of the resend deduplicator (default 2 × maxFlows). */
  maxDedupEntries?: number
  maxNodes?: number
  tls?: TlsFiles
  logger?: Logger
  limits?: Partial<QueryLimits>
  /** Message size limits and other server settings. */
  grpc?: GrpcServerOptions
  /** host:port (or a port alone, then on 127.0.0.1) for Prometheus /metrics; off when undefined. */
  metricsAddress?: string
  /** Clock in Unix seconds, for tests. */
  nowSeconds?: () => number
  streamTickMs?: number
  streamSettleSeconds?: number
  perNodeDeadlineMs?: number
  /** Announced to nodes in x-shadowflow-instance (default: a random UUID per process). */
  instanceId?: string
  /**
   * The name agents' certificates are checked against on fan-out (TLS). Agents are dialled at their pod IPs,
   * which one shared agent certificate cannot list: with this set, the certificate must name this instead.
   */
  agentServerName?: string
}

/** A running aggregator. */
export interface RunningAggregator {
  /** host:port actually bound. */
  readonly address: string
  readonly port: number
  readonly tlsMode: TlsMode
  readonly instanceId: string
  readonly store: FlowStore
  readonly dedup: ResendDeduplicator
  readonly nodes: NodeRegistry
  readonly metrics: Registry
  /** host:port of the metrics endpoint when enabled. */
  readonly metricsAddress: string | undefined
  /** Ends live streams, lets other calls finish for `graceMs`, then cancels them; closes node channels. */
  close: (graceMs?: number) => Promise<'graceful' | 'forced'>
}

/** Splits host:port ([v6]:port allowed); a bare port means `defaultHost`. */
export function splitHostPort (address: string, defaultHost: string, flag: string): { host: string, port: number } {
  const parsed = parseListenAddress(address)
  if (parsed === undefined || parsed.port > 65535) throw new UsageError(`${flag} "${address}" is not host:port`)
  return { host: parsed.host ?? defaultHost, port: parsed.port }
}

async function listenHttp (server: HttpServer, host: string, port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject)
      const address = server.address()
      resolve(typeof address === 'object' && address !== null ? address.port : port)
    })
  })
}

/** Starts an aggregator; resolves once it is listening. */
export async function startAggregator (options: AggregatorOptions): Promise<RunningAggregator> {
  const logger = (options.logger ?? silentLogger()).child({ module: 'aggregator' })
  const nowSeconds = options.nowSeconds ?? (() => Date.now() / 1000)
  const retentionSeconds = options.retentionSeconds ?? 3600
  const maxFlows = options.maxFlows ?? 1_000_000
  const limits: QueryLimits = { ...DEFAULT_QUERY_LIMITS, ...options.limits }
  const instanceId = options.instanceId ?? randomUUID()
  const listen = splitHostPort(options.listen, '127.0.0.1', '--listen')
  const tls = await readTlsMaterial(options.tls ?? {}, 'server')

  const store = new FlowStore({ retentionSeconds, maxFlows, nowSeconds })
  const dedup = new ResendDeduplicator({ retentionSeconds, maxEntries: options.maxDedupEntries ?? 2 * maxFlows, nowSeconds })
  const nodes = new NodeRegistry({ nowSeconds, ...(options.maxNodes === undefined ? {} : { maxNodes: options.maxNodes }) })
  const live = new LiveCalls(limits.maxLiveStreams)
  const connections = new LiveCalls(options.maxNodes ?? 10_000)
  // The fan-out to agents uses the aggregator's own certificate: with mTLS every link is mutually authenticated.
  const pool = new NodeClientPool({
    credentials: tls.mode === 'insecure' ? grpc.credentials.createInsecure() : clientCredentialsFromMaterial(tls),
    ...(options.agentServerName === undefined ? {} : { clientOptions: { serverNameOverride: options.agentServerName } })
  })
  const handlerOptions = {
    onError (error: unknown, status: GrpcStatus, method: string) {
      if (status.code === grpc.status.INTERNAL) logger.error({ err: error, method }, 'query failed')
      else logger.debug({ method, code: status.code, details: status.details }, 'request refused')
    }
  }

  const protos = loadProtos()
  const server = createGrpcServer(options.grpc)
  server.addService(SERVICE_NAMES.flowCollector, protos.goldmane.FlowCollector.service, createFlowCollectorService({ store, dedup, nodes, instanceId, logger, connections, handlerOptions }))
  server.addService(SERVICE_NAMES.flows, protos.goldmane.Flows.service, createFlowsService({
    store,
    limits,
    live,
    handlerOptions,
    ...(options.streamTickMs === undefined ? {} : { streamTickMs: options.streamTickMs }),
    ...(options.streamSettleSeconds === undefined ? {} : { streamSettleSeconds: options.streamSettleSeconds })
  }))
  server.addService(SERVICE_NAMES.statistics, protos.goldmane.Statistics.service, createStatisticsService({ store, handlerOptions }))
  server.addService(SERVICE_NAMES.impact, protos.shadowflow.Impact.service, createImpactService({ store, limits, handlerOptions }))
  server.addService(SERVICE_NAMES.nodes, protos.shadowflow.Nodes.service, createNodesService({
    nodes, pool, limits, live, handlerOptions, ...(options.perNodeDeadlineMs === undefined ? {} : { perNodeDeadlineMs: options.perNodeDeadlineMs })
  }))
  const port = await server.bind(`${listen.host}:${listen.port}`, serverCredentialsFromMaterial(tls))

  const metrics = createAggregatorMetrics({ store, dedup, nodes, liveStreams: () => live.size })
  let metricsServer: HttpServer | undefined
  let metricsAddress: string | undefined
  if (options.metricsAddress !== undefined) {
    const m = splitHostPort(options.metricsAddress, '127.0.0.1', '--metrics-addr')
    metricsServer = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') { res.writeHead(404).end('not found\n'); return }
      metrics.metrics().then(text => { res.writeHead(200, { 'content-type': metrics.contentType }).end(text) },
        (error: unknown) => { logger.error({ err: error }, 'metrics collection failed'); res.writeHead(500).end('metrics collection failed\n') })
    })
    try {
      metricsAddress = `${m.host}:${await listenHttp(metricsServer, m.host, m.port)}`
    } catch (error) {
      await server.shutdown(0)
      pool.close()
      throw error
    }
  }
  const address = `${listen.host}:${port}`
  logger.info({ address, tls: tls.mode, retentionSeconds, maxFlows, instanceId, metricsAddress }, 'aggregator listening')

  let closing: Promise<'graceful' | 'forced'> | undefined
  return {
    address,
    port,
    tlsMode: tls.mode,
    instanceId,
    store,
    dedup,
    nodes,
    metrics,
    metricsAddress,
    close: async (graceMs?: number) => {
      closing ??= (async () => {
        live.stopAll()
        connections.stopAll()
        const how = await server.shutdown(graceMs)
        pool.close()
        if (metricsServer !== undefined) {
          const closed = new Promise<void>(resolve => metricsServer?.close(() => resolve()))
          metricsServer.closeAllConnections()
          await closed
        }
        logger.info({ how }, 'aggregator stopped')
        return how
      })()
      return await closing
    }
  }
}
