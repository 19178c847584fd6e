// Runs shadowflow as real processes (`node bin/shadowflow.js aggregator …` / `agent …`) on 127.0.0.1 for the
// system tests: ports chosen by the kernel (port 0) and read back from the processes, readiness awaited
// (the aggregator's listening line and gRPC health, the agent's "agent started" log and /readyz), JSON logs
// collected, and every child killed by cleanup() — tests call it in `after`, so a failing assertion never
// leaves a process behind.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { callUnary, createGrpcClient } from '../../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../../agent/src/grpc/load-protos.js'

/** The repository root (the directory holding bin/shadowflow.js), found from this compiled module. */
export const REPO_ROOT = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'shadowflow.js')) && existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error('bin/shadowflow.js not found above the test module')
  }
})()
export const SHADOWFLOW_BIN = join(REPO_ROOT, 'bin', 'shadowflow.js')
export const SHOP_DIR = join(REPO_ROOT, 'examples', 'shop')
export const SHOP_CAPTURE = join(SHOP_DIR, 'capture.pcap')

export type LogLine = Record<string, unknown>

/** A child process with its output collected. */
export class ManagedProcess {
  readonly logs: LogLine[] = []
  stdout = ''
  stderr = ''
  exitCode: number | null = null
  exitSignal: NodeJS.Signals | null = null
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  private partial = ''
  private readonly waiters = new Set<() => void>()

  constructor (readonly name: string, readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8')
    child.stderr?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => { this.stdout += chunk; this.notify() })
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk
      this.partial += chunk
      let nl
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl)
        this.partial = this.partial.slice(nl + 1)
        try { this.logs.push(JSON.parse(line) as LogLine) } catch { /* not a JSON log line */ }
      }
      this.notify()
    })
    this.exited = new Promise(resolve => {
      child.on('exit', (code, signal) => {
        this.exitCode = code
        this.exitSignal = signal
        this.notify()
        resolve({ code, signal })
      })
    })
  }

  get running (): boolean { return this.exitCode === null && this.exitSignal === null }

  private notify (): void { for (const w of [...this.waiters]) w() }

  /** Waits until `test` returns a value (checked on every output and every 100 ms). */
  async waitFor<T> (what: string, test: () => T | undefined, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = test()
      if (value !== undefined) return value
      if (!this.running) assert.fail(`${this.name} exited (${String(this.exitCode ?? this.exitSignal)}) before ${what}; stderr:\n${this.tail()}`)
      if (Date.now() > deadline) assert.fail(`${this.name}: no ${what} within ${timeoutMs} ms; stderr:\n${this.tail()}`)
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.waiters.delete(done); resolve() }
        const timer = setTimeout(done, 100)
        this.waiters.add(done)
      })
    }
  }

  /** The first log line with this message (and matching `where`), waiting for it. */
  async waitForLog (msg: string, where: (line: LogLine) => boolean = () => true, timeoutMs = 15_000): Promise<LogLine> {
    return await this.waitFor(`log "${msg}"`, () => this.logs.find(l => l.msg === msg && where(l)), timeoutMs)
  }

  /** The last 4 KiB of stderr, for failure messages. */
  tail (): string { return this.stderr.slice(-4096) }

  kill (signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal)
  }
}

/** Every process a test file starts; cleanup() kills the ones still running. */
export class ProcessHarness {
  private readonly processes = new Set<ManagedProcess>()

  /** Starts `node bin/shadowflow.js ...args` with a clean environment (no SHADOWFLOW_* leaks in). */
  spawn (name: string, args: readonly string[]): ManagedProcess {
    const child = spawn(process.execPath, [SHADOWFLOW_BIN, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }
    })
    const managed = new ManagedProcess(name, child)
    this.processes.add(managed)
    void managed.exited.then(() => { this.processes.delete(managed) })
    return managed
  }

  /** SIGKILLs every child still running and waits for them to exit. */
  async cleanup (): Promise<void> {
    const running = [...this.processes]
    for (const p of running) p.kill('SIGKILL')
    await Promise.all(running.map(async p => await p.exited))
  }
}

/** TLS files of a process (all three, or none). */
export interface TlsPaths { cert: string, key: string, ca: string }

const tlsArgs = (tls: TlsPaths | undefined): string[] => tls === undefined ? [] : ['--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca]

/** A running aggregator process. */
export interface AggregatorProcess {
  proc: ManagedProcess
  /** host:port of the gRPC server. */
  address: string
  /** host:port of /metrics. */
  metricsAddress: string
}

/** Starts `shadowflow aggregator` on 127.0.0.1 (port 0 unless given) and waits until it answers health checks. */
export async function startAggregatorProcess (harness: ProcessHarness, options: { port?: number, tls?: TlsPaths, args?: readonly string[], name?: string } = {}): Promise<AggregatorProcess> {
  const proc = harness.spawn(options.name ?? 'aggregator', [
    'aggregator', '--listen', `127.0.0.1:${options.port ?? 0}`, '--metrics-addr', '127.0.0.1:0', '--shutdown-grace', '1s',
    ...tlsArgs(options.tls), ...(options.args ?? [])
  ])
  const [address, metricsAddress] = await proc.waitFor('the listening line', () => {
    const m = /listening on (127\.0\.0\.1:\d+) \(\w+\), metrics on http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(proc.stdout)
    return m === null ? undefined : [m[1] as string, m[2] as string] as const
  })
  const credentials = options.tls === undefined ? grpc.credentials.createInsecure() : await clientCredentials(options.tls)
  assert.equal(await healthStatus(address, credentials), 'SERVING')
  return { proc, address, metricsAddress }
}

/** A running agent process. */
export interface AgentProcess {
  proc: ManagedProcess
  /** host:port of the debug HTTP server. */
  debug: string
  /** host:port of the NodeFlows query service. */
  query: string
}

/** Options of an agent process. */
export interface AgentProcessOptions {
  node: string
  source: string
  /** -f paths. */
  files: readonly string[]
  aggregator?: string
  tls?: TlsPaths
  /** --flush-deadline (default 5 s: short, the tests' aggregators answer at once). */
  flushDeadlineSeconds?: number
  args?: readonly string[]
}

/** Starts `shadowflow agent` with its servers on 127.0.0.1:0 and waits for its "agent started" line. */
export async function startAgentProcess (harness: ProcessHarness, options: AgentProcessOptions): Promise<AgentProcess> {
  const proc = harness.spawn(`agent ${options.node}`, [
    'agent', '--node-name', options.node, '--source', options.source, ...options.files.flatMap(f => ['-f', f]),
    '--debug-addr', '127.0.0.1:0', '--query-listen', '127.0.0.1:0', '--interval', '15', '--flush-deadline', String(options.flushDeadlineSeconds ?? 5), '--watch-poll', '1',
    ...(options.aggregator === undefined ? [] : ['--aggregator', options.aggregator]),
    ...tlsArgs(options.tls), ...(options.args ?? [])
  ])
  const started = await proc.waitForLog('agent started')
  return { proc, debug: String(started.debug), query: String(started.query) }
}

/** Waits for the agent's capture file to be read and flushed into the exporter. */
export async function waitForCaptureEnd (agent: AgentProcess): Promise<LogLine> {
  return await agent.proc.waitForLog('tap source ended; flow logs flushed, still serving queries')
}

/** Runs one CLI command to completion. */
export async function runShadowflow (args: readonly string[], timeoutMs = 20_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [SHADOWFLOW_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>(resolve => child.on('exit', c => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Polls `fn` until it returns a value; fails with `what` (and the last value seen) after the timeout. */
export async function until<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** GET over plain HTTP. */
export async function httpGet (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)))
    req.end()
  })
}

/** The value of one Prometheus sample (`name{labels}` exactly as printed), or undefined. */
export function metricValue (text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1))
  }
  return undefined
}

/** Client credentials for a process's TLS files (mutual TLS). */
export async function clientCredentials (tls: TlsPaths): Promise<grpc.ChannelCredentials> {
  const { readFile } = await import('node:fs/promises')
  return grpc.credentials.createSsl(await readFile(tls.ca), await readFile(tls.key), await readFile(tls.cert))
}

/** grpc.health.v1 Check of the whole server: 'SERVING', or the status code name of the failure. */
export async function healthStatus (address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): Promise<string> {
  const client = createGrpcClient(loadProtos().health, address, credentials)
  try {
    return (await callUnary(client, 'Check', { service: '' }, { deadlineMs: 5000 })).status
  } catch (error) {
    return grpc.status[(error as grpc.ServiceError).code] ?? String((error as grpc.ServiceError).code)
  } finally {
    client.close()
  }
}

/** Reads a server stream to its end (or until `stopWhen` says stop, then cancels); rejects on an error status. */
export async function collectStream<T> (call: grpc.ClientReadableStream<T>, stopWhen?: (items: readonly T[]) => boolean): Promise<T[]> {
  const items: T[] = []
  return await new Promise((resolve, reject) => {
    let done = false
    call.on('data', (item: T) => {
      items.push(item)
      if (!done && stopWhen?.(items) === true) { done = true; call.cancel(); resolve(items) }
    })
    call.on('end', () => { if (!done) { done = true; resolve(items) } })
    call.on('error', (error: grpc.ServiceError) => {
      if (done) return
      done = true
      reject(error)
    })
  })
}

/**
 * A named pipe an agent reads as `pcap-file:PATH`, so a test decides when its traffic happens. Opened read-write
 * by the test, so neither side blocks in open(2) waiting for the other; close() is the end of the capture.
 */
export class CaptureFifo {
  private handle: import('node:fs/promises').FileHandle | undefined

  constructor (readonly path: string) {}

  /** Creates the pipe and writes the pcap header. */
  async open (header: Buffer): Promise<void> {
    const { execFileSync } = await import('node:child_process')
    const { open } = await import('node:fs/promises')
    execFileSync('mkfifo', [this.path])
    this.handle = await open(this.path, 'r+')
    await this.write(header)
  }

  async write (bytes: Buffer): Promise<void> {
    if (this.handle === undefined) throw new Error('the capture pipe is not open')
    let off = 0
    while (off < bytes.length) off += (await this.handle.write(bytes, off)).bytesWritten
  }

  /** Ends the capture (the agent's source reads end of file once the pipe is drained). */
  async close (): Promise<void> {
    const h = this.handle
    this.handle = undefined
    await h?.close()
  }
}
