// The running node agent: policy source (watched -f files) → flow pipeline over the tap → flow-log ring, exporter
// to the aggregator, node query service, debug HTTP. start() brings everything up in dependency order and fails
// with a precise error when the configuration, the files or the tap are wrong; stop() is the SIGTERM path: stop
// capture, flush the current interval, wait for receipts up to the deadline, close the servers.
//
// A source that ends by itself (pcap-file:) is flushed and the agent keeps serving queries until it is stopped.
import { hostname } from 'node:os'
import type { AgentConfig } from '../config/agent-config.js'
import { redactConfig, splitHostPort } from '../config/agent-config.js'
import { ShadowflowError } from '../errors.js'
import { BoundedRing } from '../flows/bounded-ring.js'
import type { FlowLog } from '../flows/flow-log.js'
import { createGrpcServer, type GrpcServer } from '../grpc/grpc-server.js'
import { loadProtos } from '../grpc/load-protos.js'
import { clientCredentialsFromFiles, serverCredentialsFromFiles } from '../grpc/tls-credentials.js'
import type { WireExporterState, WireNodeStatus } from '../grpc/wire-types.js'
import { openTapSource } from '../tap/native-tap-source.js'
import { parseTapSourceSpec } from '../tap/tap-source-spec.js'
import type { TapSource, TapStats } from '../tap/tap-source.js'
import { AgentMetrics } from '../telemetry/agent-metrics.js'
import type { Logger } from '../telemetry/logger.js'
import { DebugServer, type ReadinessCheck } from './debug-server.js'
import { FlowExporter } from './flow-exporter.js'
import { FlowPipeline, type PipelineClock } from './flow-pipeline.js'
import { tapSourceOptions } from './tap-options.js'
import { nodeQueryService } from './node-query-service.js'
import { PolicySource, type PolicySet } from './policy-source.js'
import { KubernetesPolicySource } from '../k8s/kubernetes-policy-source.js'

/** The version GetStatus reports. */
export const AGENT_VERSION = '0.1.0'

/** Where the agent's servers ended up listening (ports resolved when 0 was asked for). */
export interface AgentAddresses {
  debug: string | undefined
  query: string | undefined
}

export type TapState = 'starting' | 'open' | 'ended' | 'failed' | 'stopped'

export interface NodeAgentDeps {
  logger: Logger
  metrics?: AgentMetrics
  /** Opens the tap (tests substitute sources). */
  openSource?: (description: string) => TapSource
}

/** One node agent. */
export class NodeAgent {
  readonly metrics: AgentMetrics
  readonly pipeline: FlowPipeline
  readonly flowLogs: BoundedRing<FlowLog>
  readonly addresses: AgentAddresses = { debug: undefined, query: undefined }
  private readonly log: Logger
  private readonly policySource: PolicySource | KubernetesPolicySource
  private source: TapSource | undefined
  private tapState: TapState = 'starting'
  private tapError = ''
  private lastTapStats: TapStats | undefined
  private exporter: FlowExporter | undefined
  private queryServer: GrpcServer | undefined
  private debugServer: DebugServer | undefined
  private running: Promise<void> | undefined
  private readonly startedAtMs = Date.now()
  private stopping: Promise<void> | undefined

  constructor (readonly config: AgentConfig, private readonly deps: NodeAgentDeps) {
    this.log = deps.logger
    this.metrics = deps.metrics ?? new AgentMetrics()
    // Checked first: a wrong --source is a usage error before anything listens.
    parseTapSourceSpec(config.source)
    this.pipeline = new FlowPipeline({
      nodeName: config.nodeName,
      allLocal: config.localEndpoints === 'all',
      stagedMode: config.stagedMode,
      intervalSeconds: config.intervalSeconds,
      maxTrackedFlows: config.maxTrackedFlows,
      recentFlows: config.recentFlows
    })
    this.flowLogs = new BoundedRing<FlowLog>(Math.max(1, config.recentFlows))
    const apply = (set: PolicySet): void => {
      this.pipeline.apply(set)
      this.metrics.policyReloads.inc({ result: 'ok' })
      this.metrics.policyGeneration.set(set.generation)
      const staged = set.policies.filter(p => p.staged).length
      this.metrics.policiesLoaded.set({ staged: 'true' }, staged)
      this.metrics.policiesLoaded.set({ staged: 'false' }, set.policies.length - staged)
    }
    const onRejected = (): void => { this.metrics.policyReloads.inc({ result: 'error' }) }
    // Policy and inventory come from -f files or, with --kubernetes, from the API (k8s/, issue 6).
    this.policySource = config.kubernetes
      ? new KubernetesPolicySource({ kubeconfig: config.kubeconfig, logger: this.log.child({ module: 'kubernetes' }), apply, onRejected })
      : new PolicySource({
        paths: config.filenames,
        logger: this.log.child({ module: 'policy' }),
        watch: config.watchFiles,
        pollMs: config.watchPollSeconds * 1000,
        apply,
        onRejected
      })
    this.metrics.observe({
      aggregator: () => this.pipeline.aggregator.stats(),
      engine: () => this.pipeline.engine.stats(),
      tap: () => this.tapStats(),
      exporter: () => this.exporter?.status()
    })
  }

  /** Loads policies, starts the servers, the exporter and capture. Rejects with a ShadowflowError on bad input. */
  async start (): Promise<void> {
    const config = this.config
    // Files fail fast, before anything listens. The API is waited for after the debug server is up, so that
    // /healthz answers and /readyz says which initial list is missing while the cache syncs; the tap starts
    // only after the sync, so no flow is ever evaluated against a half-synced cache.
    if (this.policySource instanceof PolicySource) await this.policySource.load()
    const protos = loadProtos()

    if (config.debugAddr !== '') {
      const { host, port } = splitHostPort(config.debugAddr)
      this.debugServer = new DebugServer({
        readiness: () => this.readiness(),
        metricsText: async () => await this.metrics.text(),
        engine: () => this.pipeline.engine,
        directory: () => this.pipeline.set?.directory,
        isLocal: e => config.localEndpoints === 'all' || (e.nodeName !== undefined && e.nodeName === config.nodeName),
        flowLogs: () => this.flowLogs.since(0).map(e => e.item),
        rawFlows: () => this.pipeline.aggregator.recent?.since(0).map(e => e.item) ?? [],
        config: () => redactConfig(config),
        logger: this.log.child({ module: 'debug' })
      })
      const bound = await this.debugServer.listen(host, port).catch((cause: unknown) => {
        throw new ShadowflowError('ERR_LISTEN', `cannot listen on --debug-addr ${config.debugAddr}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause })
      })
      this.addresses.debug = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
    }

    if (this.policySource instanceof KubernetesPolicySource) await this.policySource.load()

    if (config.queryListen !== '') {
      const tls = { certPath: config.tlsCert, keyPath: config.tlsKey, caPath: config.tlsCa }
      const credentials = await serverCredentialsFromFiles(tls)
      const server = createGrpcServer()
      const queryLog = this.log.child({ module: 'query' })
      const service = nodeQueryService({
        flowLogs: this.flowLogs,
        rawFlows: this.pipeline.aggregator.recent,
        status: () => this.nodeStatus(),
        handlerOptions: { onError: (error, status, method) => { queryLog.warn({ err: error, code: status.code, method }, 'query failed') } }
      })
      server.addService('shadowflow.v1.NodeFlows', protos.shadowflow.NodeFlows.service, { GetFlows: service.GetFlows, GetStatus: service.GetStatus })
      const { host } = splitHostPort(config.queryListen)
      const port = await server.bind(config.queryListen, credentials).catch((cause: unknown) => {
        throw new ShadowflowError('ERR_LISTEN', `cannot listen on --query-listen ${config.queryListen}: ${(cause as Error).message}`, { cause })
      })
      this.queryServer = server
      this.addresses.query = `${host.includes(':') ? `[${host}]` : host}:${port}`
    }

    if (config.aggregator !== '') {
      const credentials = await clientCredentialsFromFiles({ certPath: config.tlsCert, keyPath: config.tlsKey, caPath: config.tlsCa })
      this.exporter = new FlowExporter({
        protos,
        address: config.aggregator,
        credentials,
        nodeName: config.nodeName,
        queryAddress: () => this.queryAdvertise(),
        maxBufferBytes: config.exportBufferBytes,
        maxBufferAgeMs: config.exportBufferAgeSeconds * 1000,
        logger: this.log.child({ module: 'exporter' })
      })
      this.exporter.start()
    }

    const sourceOptions = tapSourceOptions(config)
    const open = this.deps.openSource ?? ((description: string) => openTapSource(description, sourceOptions))
    this.source = open(config.source)
    const fallback = this.source.fallbackReason
    if (fallback !== undefined) this.log.warn({ source: config.source, reason: fallback.message, code: (fallback as { code?: string }).code }, 'eBPF refused; capturing with libpcap on the same interfaces')
    this.source.start()
    this.tapState = 'open'
    const clock: PipelineClock = parseTapSourceSpec(config.source).kind === 'pcap-file' ? 'event' : 'wall'
    // attach: how an ebpf: source hooked in (tcx or clsact; `auto` decides at open), undefined for other sources.
    const attach = this.tapStats()?.attach?.mode
    this.log.info({ source: config.source, node: config.nodeName, attach, debug: this.addresses.debug, query: this.addresses.query, aggregator: config.aggregator }, 'agent started')
    this.running = this.pipeline.run(this.source, { clock, captureClock: config.captureClock, sink: logs => { this.emit(logs) } }).then(() => {
      this.lastTapStats = this.tapStats()
      if (this.tapState === 'open') {
        this.tapState = 'ended'
        this.log.info({ records: this.pipeline.records }, 'tap source ended; flow logs flushed, still serving queries')
      }
    }, (error: unknown) => {
      this.lastTapStats = this.tapStats()
      this.tapState = 'failed'
      this.tapError = error instanceof ShadowflowError ? `${error.describe()} [${error.code}]` : String(error)
      this.log.error({ err: error }, 'tap source failed')
    })
  }

  private emit (logs: readonly FlowLog[]): void {
    for (const log of logs) this.flowLogs.push(log)
    this.exporter?.enqueue(logs)
  }

  /** Resolves when the tap source has ended (or failed, or was stopped) and its flow logs were flushed. */
  async sourceEnded (): Promise<void> { await this.running }

  private tapStats (): TapStats | undefined {
    if (this.source === undefined || this.tapState !== 'open') return this.lastTapStats
    try {
      this.lastTapStats = this.source.stats()
    } catch {
      // A closed native source has no counters any more: keep the last ones.
    }
    return this.lastTapStats
  }

  private queryAdvertise (): string {
    if (this.config.queryAdvertise !== '') return this.config.queryAdvertise
    const bound = this.addresses.query
    if (bound === undefined) return ''
    // A wildcard listen address is not an address anyone can dial: advertise the host name instead.
    const { host, port } = splitHostPort(bound)
    return host === '0.0.0.0' || host === '::' ? `${hostname()}:${port}` : bound
  }

  /** /readyz: tap open (or a finished capture), policies loaded, exporter connected (or disabled). */
  readiness (): ReadinessCheck[] {
    const policy = this.policySource.status()
    const exporter = this.exporter?.status()
    return [
      { name: 'tap', ok: this.tapState === 'open' || this.tapState === 'ended', detail: this.tapState === 'failed' ? `failed: ${this.tapError}` : this.tapState },
      { name: 'policies', ok: policy.generation > 0, detail: policy.generation > 0 ? `generation ${policy.generation}, ${policy.policiesLoaded} policies${policy.lastError === '' ? '' : `; last reload rejected: ${policy.lastError}`}` : this.policySource instanceof KubernetesPolicySource ? this.policySource.notReadyDetail() : 'not loaded' },
      { name: 'exporter', ok: exporter === undefined || exporter.state === 'connected', detail: exporter === undefined ? 'disabled (no --aggregator)' : `${exporter.state} to ${exporter.address}` }
    ]
  }

  /** shadowflow.v1.NodeStatus. */
  nodeStatus (): WireNodeStatus {
    const nowMs = Date.now()
    const tap = this.tapStats()
    const counters: Record<string, number> = {}
    if (tap !== undefined) {
      for (const [k, v] of Object.entries(tap)) {
        if (typeof v === 'number') counters[k] = v
        else if (v !== null && typeof v === 'object') for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (typeof v2 === 'number') counters[`${k}.${k2}`] = v2
      }
    }
    const policy = this.policySource.status()
    const exporter = this.exporter?.status()
    const state: WireExporterState = exporter === undefined
      ? 'EXPORTER_DISABLED'
      : ({ connecting: 'EXPORTER_CONNECTING', connected: 'EXPORTER_CONNECTED', backoff: 'EXPORTER_BACKOFF', stopped: 'EXPORTER_STOPPED' } as const)[exporter.state]
    return {
      node: this.config.nodeName,
      queryAddress: this.queryAdvertise(),
      startTime: Math.floor(this.startedAtMs / 1000),
      uptimeSeconds: Math.floor((nowMs - this.startedAtMs) / 1000),
      tap: { description: this.config.source, open: this.tapState === 'open', counters },
      dropsByReason: this.metrics.dropsByReason(),
      policy: {
        generation: policy.generation,
        policiesLoaded: policy.policiesLoaded,
        stagedPoliciesLoaded: policy.stagedPoliciesLoaded,
        reloadErrors: policy.reloadErrors,
        lastError: policy.lastError,
        lastReloadTime: Math.floor(policy.lastReloadTimeMs / 1000)
      },
      exporter: {
        state,
        aggregator: this.config.aggregator,
        queueFlows: exporter?.queueFlowLogs ?? 0,
        queueBytes: exporter?.queueBytes ?? 0,
        updatesSent: exporter?.sent ?? 0,
        acks: exporter?.acks ?? 0,
        reconnects: exporter?.reconnects ?? 0,
        dropped: exporter === undefined ? 0 : exporter.dropped.overflow + exporter.dropped.aged + exporter.dropped.stopped,
        lastAckTime: Math.floor((exporter?.lastAckTimeMs ?? 0) / 1000)
      },
      version: AGENT_VERSION
    }
  }

  /** The policy source (tests and GetStatus). */
  get policies (): PolicySource | KubernetesPolicySource { return this.policySource }

  /**
   * SIGTERM: stop capture, flush the current interval into the exporter, wait for receipts up to the flush
   * deadline, then close the servers. Idempotent.
   */
  async stop (): Promise<{ acknowledged: boolean, lost: number }> {
    let result = { acknowledged: true, lost: 0 }
    this.stopping ??= (async () => {
      this.policySource.stop()
      if (this.tapState === 'open') this.tapState = 'stopped'
      this.lastTapStats = this.tapStatsBeforeClose()
      this.source?.close()
      await this.running
      if (this.exporter !== undefined) {
        result = await this.exporter.stop(this.config.flushDeadlineSeconds * 1000)
        if (!result.acknowledged) this.log.warn({ lost: result.lost }, 'flush deadline passed before every flow log was acknowledged')
      }
      await this.queryServer?.shutdown(1000)
      await this.debugServer?.close()
      this.log.info({ records: this.pipeline.records, flowLogs: this.pipeline.aggregator.stats().flowLogsEmitted, acknowledged: result.acknowledged, lost: result.lost }, 'agent stopped')
    })()
    await this.stopping
    return result
  }

  private tapStatsBeforeClose (): TapStats | undefined {
    if (this.source === undefined) return this.lastTapStats
    try { return this.source.stats() } catch { return this.lastTapStats }
  }
}
