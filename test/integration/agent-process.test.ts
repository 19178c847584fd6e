// The node agent as a real process on 127.0.0.1: a pcap-file capture written by the test, a tiny cluster in -f,
// a fake goldmane.FlowCollector server. Checks that the exported totals equal the capture, that the debug
// endpoints answer, that an invalid policy edit keeps the last good set (visible in /metrics and the log), and
// that SIGTERM loses nothing already captured.
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlow, WireFlowReceipt, WireFlowUpdate, WireGetFlowsResponse } from '../../agent/src/grpc/wire-types.js'
import { ACK, ethernet, FIN, ipv4, PSH, SYN, tcp } from '../native/helpers/packet-builder.js'
import { type CapturedPacket, LINKTYPE, pcapBytes } from '../native/helpers/pcap-writer.js'

const AGENT_MODULE = fileURLToPath(new URL('../../agent/src/cli/commands/agent.js', import.meta.url))
// The lead registers `agent` in commands/index.ts; the test runs the command module directly so it does not
// depend on that registry.
const RUNNER = `
const { agentCommand } = await import(${JSON.stringify(AGENT_MODULE)})
try {
  process.exitCode = await agentCommand.run(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTty: false })
} catch (error) {
  process.stderr.write('agent: ' + (error.describe ? error.describe() + ' [' + error.code + ']' : error.stack) + '\\n')
  process.exitCode = 2
}`

const dir = mkdtempSync(join(tmpdir(), 'shadowflow-agent-it-'))

const CLUSTER = `
apiVersion: v1
kind: Pod
metadata: { name: web-abc12, generateName: web-, namespace: shop, labels: { app: web } }
spec: { nodeName: node-1, containers: [{ name: web }] }
status: { podIP: 10.0.1.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: redis-0, namespace: db, labels: { app: redis } }
spec: { nodeName: node-1, containers: [{ name: redis }] }
status: { podIP: 10.0.2.1 }
`
const POLICY = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: allow-web, namespace: db }
spec:
  selector: app == 'redis'
  ingress: [{ action: Allow, protocol: TCP, source: { selector: app == 'web', namespaceSelector: all() }, destination: { ports: [6379] } }]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: lockdown, namespace: db }
spec:
  order: 1
  selector: app == 'redis'
  ingress: [{ action: Deny }]
`

const T0 = 1_700_000_000_000_000_000n
const MS = 1_000_000n
const at = (ms: number, data: Buffer): CapturedPacket => ({ tsNs: T0 + BigInt(ms) * MS, data })

/** A complete TCP connection: 5 packets forward (payload bytes), 3 back (2 × payload). */
function conversation (client: string, server: string, cport: number, sport: number, startMs: number, payload: number): CapturedPacket[] {
  const c = (flags: number, len = 0): Buffer => ethernet(ipv4(client, server, tcp(cport, sport, flags, len)))
  const s = (flags: number, len = 0): Buffer => ethernet(ipv4(server, client, tcp(sport, cport, flags, len)))
  return [
    at(startMs, c(SYN)), at(startMs + 1, s(SYN | ACK)), at(startMs + 2, c(ACK)),
    at(startMs + 3, c(PSH | ACK, payload)), at(startMs + 4, s(PSH | ACK, payload * 2)),
    at(startMs + 5, c(FIN | ACK)), at(startMs + 6, s(FIN | ACK)), at(startMs + 7, c(ACK))
  ]
}

// Three web → redis connections in two 15 s intervals, one web → the internet (reported by the source only).
const CONVERSATIONS = [
  { client: '10.0.1.1', server: '10.0.2.1', cport: 40001, sport: 6379, startMs: 1000, payload: 100 },
  { client: '10.0.1.1', server: '10.0.2.1', cport: 40002, sport: 6379, startMs: 2000, payload: 200 },
  { client: '10.0.1.1', server: '10.0.2.1', cport: 40003, sport: 6379, startMs: 20_000, payload: 300 },
  { client: '10.0.1.1', server: '8.8.8.8', cport: 40004, sport: 443, startMs: 3000, payload: 50 }
]
const CAPTURE = join(dir, 'capture.pcap')
writeFileSync(CAPTURE, pcapBytes(LINKTYPE.ETHERNET, CONVERSATIONS.flatMap(c => conversation(c.client, c.server, c.cport, c.sport, c.startMs, c.payload)).sort((a, b) => Number(a.tsNs - b.tsNs))))
const fwdBytes = (payload: number): number => 5 * 40 + payload
const revBytes = (payload: number): number => 3 * 40 + 2 * payload

interface FakeCollector {
  port: number
  flows: WireFlow[]
  metadata: grpc.Metadata[]
  close: () => Promise<void>
}

/** A goldmane.FlowCollector that records every flow and answers each with a receipt (optionally late). */
async function startCollector (options: { receiptDelayMs?: number, instance?: string } = {}): Promise<FakeCollector> {
  const protos = loadProtos()
  const server = new grpc.Server()
  const flows: WireFlow[] = []
  const metadata: grpc.Metadata[] = []
  server.addService(protos.goldmane.FlowCollector.service, {
    Connect: (call: grpc.ServerDuplexStream<WireFlowUpdate, WireFlowReceipt>) => {
      metadata.push(call.metadata)
      const md = new grpc.Metadata()
      md.set('x-shadowflow-instance', options.instance ?? 'fake-1')
      call.sendMetadata(md)
      call.on('data', (update: WireFlowUpdate) => {
        if (update.flow !== null && update.flow !== undefined) flows.push(update.flow)
        const reply = (): void => { if (!call.writableEnded && !call.cancelled) call.write({}) }
        if (options.receiptDelayMs === undefined) reply()
        else setTimeout(reply, options.receiptDelayMs)
      })
      call.on('end', () => { call.end() })
      call.on('error', () => {})
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => { if (error === null) resolve(p); else reject(error) })
  })
  return { port, flows, metadata, close: async () => { await new Promise<void>(resolve => { server.tryShutdown(() => { resolve() }) }); server.forceShutdown() } }
}

interface AgentProcess {
  child: ChildProcess
  logs: Array<Record<string, unknown>>
  stderrText: () => string
  waitForLog: (msg: string, timeoutMs?: number) => Promise<Record<string, unknown>>
  exit: Promise<number | null>
}

const children = new Set<ChildProcess>()
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })

function spawnAgent (args: string[]): AgentProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } })
  children.add(child)
  const logs: Array<Record<string, unknown>> = []
  let text = ''
  let buffered = ''
  const waiters: Array<() => void> = []
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    text += chunk
    buffered += chunk
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch { /* not a log line */ }
    }
    for (const w of waiters.splice(0)) w()
  })
  const exit = new Promise<number | null>(resolve => { child.on('exit', code => { children.delete(child); resolve(code) }) })
  const waitForLog = async (msg: string, timeoutMs = 10_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = logs.find(l => l.msg === msg)
      if (found !== undefined) return found
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no log "${msg}" within ${timeoutMs} ms; stderr:\n${text}`)
      await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }
  return { child, logs, stderrText: () => text, waitForLog, exit }
}

async function httpGet (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string, type: string }> {
  return await new Promise((resolve, reject) => {
    get(url, { headers }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }) })
    }).on('error', reject)
  })
}

async function until<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function sum (flows: readonly WireFlow[], reporter: string, field: 'packetsIn' | 'packetsOut' | 'bytesIn' | 'bytesOut' | 'numConnectionsStarted'): number {
  return flows.filter(f => f.Key?.reporter === reporter).reduce((n, f) => n + f[field], 0)
}

function writeCluster (name: string): string {
  const d = join(dir, name)
  mkdirSync(d)
  writeFileSync(join(d, 'cluster.yaml'), CLUSTER)
  writeFileSync(join(d, 'policy.yaml'), POLICY)
  return d
}

const baseArgs = (clusterDir: string, collectorPort: number | undefined): string[] => [
  '--source', `pcap-file:${CAPTURE}`, '-f', clusterDir, '--node-name', 'node-1',
  '--debug-addr', '127.0.0.1:0', '--query-listen', '127.0.0.1:0', '--watch-poll', '1',
  ...(collectorPort === undefined ? [] : ['--aggregator', `127.0.0.1:${collectorPort}`])
]

describe('agent process', { timeout: 60_000 }, () => {
  test('exports a capture to the aggregator: totals equal the capture, metadata names the node; debug endpoints answer', async () => {
    const collector = await startCollector()
    const agent = spawnAgent(baseArgs(writeCluster('export'), collector.port))
    try {
      const started = await agent.waitForLog('agent started')
      const debug = `http://${String(started.debug)}`
      await agent.waitForLog('tap source ended; flow logs flushed, still serving queries')
      const redis = CONVERSATIONS.filter(c => c.server === '10.0.2.1')
      // Src: 4 connections' worth; Dst: only the three to the local redis pod.
      const expectedFlows = await until('every flow log', () => collector.flows.length >= 4 ? collector.flows : undefined)
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(sum(expectedFlows, 'Src', 'bytesOut'), CONVERSATIONS.reduce((n, c) => n + fwdBytes(c.payload), 0))
      assert.equal(sum(expectedFlows, 'Src', 'bytesIn'), CONVERSATIONS.reduce((n, c) => n + revBytes(c.payload), 0))
      assert.equal(sum(expectedFlows, 'Src', 'packetsOut'), 5 * CONVERSATIONS.length)
      assert.equal(sum(expectedFlows, 'Src', 'numConnectionsStarted'), CONVERSATIONS.length)
      assert.equal(sum(expectedFlows, 'Dst', 'bytesIn'), redis.reduce((n, c) => n + fwdBytes(c.payload), 0))
      assert.equal(sum(expectedFlows, 'Dst', 'packetsOut'), 3 * redis.length)
      // Two intervals of web → redis at each end, plus web → pub at the source.
      assert.equal(collector.flows.length, 5)
      const dst = collector.flows.filter(f => f.Key?.reporter === 'Dst')
      assert.ok(dst.every(f => f.Key?.action === 'Allow' && f.Key.policies?.pendingPolicies[0]?.name === 'lockdown'))
      assert.equal(collector.metadata[0]?.get('x-shadowflow-node')[0], 'node-1')
      assert.equal(collector.metadata[0]?.get('x-shadowflow-query-address')[0], String(started.query))

      const health = await httpGet(`${debug}/healthz`)
      assert.equal(health.status, 200)
      const ready = await until('ready', async () => { const r = await httpGet(`${debug}/readyz`); return r.status === 200 ? r : undefined })
      assert.deepEqual((JSON.parse(ready.body) as { checks: Array<{ name: string, ok: boolean }> }).checks.map(c => [c.name, c.ok]), [['tap', true], ['policies', true], ['exporter', true]])
      const metrics = await httpGet(`${debug}/metrics`)
      assert.match(metrics.body, /^shadowflow_agent_records_total\{kind="end"\} 4$/m)
      assert.match(metrics.body, /^shadowflow_agent_flow_logs_total 5$/m)
      assert.match(metrics.body, /^shadowflow_agent_exporter_acks_total 5$/m)
      assert.match(metrics.body, /^shadowflow_agent_policy_reloads_total\{result="ok"\} 1$/m)
      assert.match(metrics.body, /^shadowflow_agent_tap_packets_total 32$/m)
      // Bounded caches export their evictions and resets (none at this size, but every series is there).
      assert.match(metrics.body, /^shadowflow_agent_cache_evictions_total\{cache="flow_shape"\} 0$/m)
      assert.match(metrics.body, /^shadowflow_agent_cache_evictions_total\{cache="end_verdict"\} 0$/m)
      assert.match(metrics.body, /^shadowflow_agent_flow_shape_table_resets_total 0$/m)
      assert.match(metrics.body, /^shadowflow_agent_flow_key_resets_total \d+$/m)
      const explain = JSON.parse((await httpGet(`${debug}/debug/explain?from=shop/web-abc12&to=db/redis-0&port=6379`)).body) as { enforced: { action: string }, pending: { action: string } }
      assert.deepEqual([explain.enforced.action, explain.pending.action], ['Allow', 'Deny'])
      const explainText = await httpGet(`${debug}/debug/explain?from=shop/web-abc12&to=10.0.2.1&port=6379&format=text`)
      assert.match(explainText.body, /PENDING\s+Deny/)
      const bad = await httpGet(`${debug}/debug/explain?from=shop/nope&to=db/redis-0`)
      assert.equal(bad.status, 400)
      assert.match(bad.body, /ERR_UNKNOWN_ENDPOINT/)
      const changed = JSON.parse((await httpGet(`${debug}/debug/flows?pending_changed=true`)).body) as { flows: Array<{ key: { reporter: string } }> }
      assert.deepEqual(changed.flows.map(f => f.key.reporter), ['Dst', 'Dst'])
      const policies = JSON.parse((await httpGet(`${debug}/debug/policies`)).body) as { enforced: Array<{ policies: Array<{ name: string }> }>, pending: Array<{ policies: Array<{ name: string }> }> }
      assert.deepEqual(policies.enforced.flatMap(t => t.policies.map(p => p.name)), ['allow-web'])
      assert.deepEqual(policies.pending.flatMap(t => t.policies.map(p => p.name)), ['lockdown', 'allow-web'])
      const endpoints = await httpGet(`${debug}/debug/endpoints`, { accept: 'text/plain' })
      assert.match(endpoints.body, /pod {2}db\/redis-0 {2}10\.0\.2\.1 {2}node=node-1 \(local\)/)
      const config = JSON.parse((await httpGet(`${debug}/debug/config`)).body) as Record<string, unknown>
      assert.equal(config.nodeName, 'node-1')
      const missing = await httpGet(`${debug}/nope`)
      assert.equal(missing.status, 404)
      assert.match(missing.type, /application\/json/)

      // The node query service: recent flow logs, filtered to the pending-changed ones.
      const protos = loadProtos()
      const client = new protos.shadowflow.NodeFlows(String(started.query), grpc.credentials.createInsecure())
      const responses: WireGetFlowsResponse[] = []
      await new Promise<void>((resolve, reject) => {
        const call = client.GetFlows({ filter: null, pendingChangedOnly: true, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' })
        call.on('data', (r: WireGetFlowsResponse) => responses.push(r))
        call.on('end', () => { resolve() })
        call.on('error', reject)
      })
      client.close()
      assert.equal(responses.length, 2)
      assert.ok(responses.every(r => r.flow?.Key?.reporter === 'Dst'))

      agent.child.kill('SIGTERM')
      assert.equal(await agent.exit, 0)
      await agent.waitForLog('agent stopped')
    } finally {
      agent.child.kill('SIGKILL')
      await collector.close()
    }
  })

  test('an invalid policy edit is rejected with file:line, counted in /metrics, and the last good set stays', async () => {
    const clusterDir = writeCluster('reload')
    const agent = spawnAgent(baseArgs(clusterDir, undefined))
    try {
      const started = await agent.waitForLog('agent started')
      const debug = `http://${String(started.debug)}`
      writeFileSync(join(clusterDir, 'policy.yaml'), POLICY.replace('ports: [6379]', 'ports: [70000]'))
      const rejected = await agent.waitForLog('policy file rejected')
      assert.match(String(rejected.error), /policy\.yaml:\d+: spec\.ingress\[0\]\.destination\.ports\[0\]: /)
      assert.equal(rejected.code, 'ERR_RESOURCE_INVALID')
      const metrics = await until('the error in /metrics', async () => {
        const m = await httpGet(`${debug}/metrics`)
        return /shadowflow_agent_policy_reloads_total\{result="error"\} 1/.test(m.body) ? m.body : undefined
      })
      assert.match(metrics, /^shadowflow_agent_policy_generation 1$/m)
      const policies = JSON.parse((await httpGet(`${debug}/debug/policies`)).body) as { pending: Array<{ policies: Array<{ name: string }> }> }
      assert.deepEqual(policies.pending.flatMap(t => t.policies.map(p => p.name)), ['lockdown', 'allow-web'], 'the last good set is still in force')
      const ready = JSON.parse((await httpGet(`${debug}/readyz`)).body) as { checks: Array<{ name: string, detail: string }> }
      assert.match(ready.checks.find(c => c.name === 'policies')?.detail ?? '', /last reload rejected/)

      // A valid edit afterwards is accepted: generation 2, and the staged policy is gone from the pending set.
      writeFileSync(join(clusterDir, 'policy.yaml'), POLICY.slice(0, POLICY.indexOf('---')))
      await until('generation 2', async () => /^shadowflow_agent_policy_generation 2$/m.test((await httpGet(`${debug}/metrics`)).body) ? true : undefined)
      const after = JSON.parse((await httpGet(`${debug}/debug/policies`)).body) as { pending: Array<{ policies: Array<{ name: string }> }> }
      assert.deepEqual(after.pending.flatMap(t => t.policies.map(p => p.name)), ['allow-web'])
      agent.child.kill('SIGTERM')
      assert.equal(await agent.exit, 0)
    } finally {
      agent.child.kill('SIGKILL')
    }
  })

  test('SIGTERM waits for the receipts of everything captured before exiting 0', async () => {
    const collector = await startCollector({ receiptDelayMs: 400 })
    const agent = spawnAgent([...baseArgs(writeCluster('sigterm'), collector.port), '--flush-deadline', '10'])
    try {
      await agent.waitForLog('tap source ended; flow logs flushed, still serving queries')
      // Receipts are still outstanding (400 ms late): the agent must wait for them.
      agent.child.kill('SIGTERM')
      assert.equal(await agent.exit, 0)
      const stopped = await agent.waitForLog('agent stopped')
      assert.equal(stopped.flowLogs, 5)
      // Without waiting, the 400 ms late receipts would be missing here and counted as lost.
      assert.equal(stopped.acknowledged, true)
      assert.equal(stopped.lost, 0)
      assert.equal(collector.flows.length, 5)
      assert.equal(sum(collector.flows, 'Src', 'bytesOut'), CONVERSATIONS.reduce((n, c) => n + fwdBytes(c.payload), 0))
      assert.ok(!agent.logs.some(l => l.msg === 'flush deadline passed before every flow log was acknowledged'), agent.stderrText())
    } finally {
      agent.child.kill('SIGKILL')
      await collector.close()
    }
  })

  test('a pcap-file FIFO whose writer is idle: records flow while it waits, SIGTERM exits 0 and exports all of it', async () => {
    const fifo = join(dir, 'live.fifo')
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0)
    const collector = await startCollector()
    const args = baseArgs(writeCluster('fifo'), collector.port).map(a => a === `pcap-file:${CAPTURE}` ? `pcap-file:${fifo}` : a)
    const agent = spawnAgent([...args, '--flush-deadline', '10'])
    // tcpdump -w - style: the capture, then the writer stays open and silent.
    const writer = spawn('sh', ['-c', `{ cat '${CAPTURE}'; sleep 60; } > '${fifo}'`], { stdio: 'ignore' })
    try {
      const started = await agent.waitForLog('agent started')
      const debug = `http://${String(started.debug)}`
      // Every connection's start arrives while the writer is idle (their ends wait for capture time to move on).
      await until('the records, while the writer is idle', async () => /^shadowflow_agent_records_total\{kind="start"\} 4$/m.test((await httpGet(`${debug}/metrics`)).body) ? true : undefined)
      const signalled = Date.now()
      agent.child.kill('SIGTERM')
      assert.equal(await agent.exit, 0)
      assert.ok(Date.now() - signalled < 5000, `SIGTERM took ${Date.now() - signalled} ms with an idle writer`)
      const stopped = await agent.waitForLog('agent stopped')
      assert.equal(stopped.lost, 0)
      assert.equal(sum(collector.flows, 'Src', 'bytesOut'), CONVERSATIONS.reduce((n, c) => n + fwdBytes(c.payload), 0))
      assert.equal(sum(collector.flows, 'Src', 'numConnectionsStarted'), CONVERSATIONS.length)
    } finally {
      writer.kill()
      agent.child.kill('SIGKILL')
      await collector.close()
    }
  })

  test('configuration errors are reported together and exit 2 before anything listens', async () => {
    const agent = spawnAgent(['--source', 'pcap-file:/x', '--interval', '20', '--staged-mode', 'nope'])
    assert.equal(await agent.exit, 2)
    const text = agent.stderrText()
    assert.match(text, /--interval: must be a multiple of 15/)
    assert.match(text, /--staged-mode: must be one of calico, replace/)
    assert.match(text, /filenames: required/)
    assert.match(text, /ERR_CONFIG_INVALID/)
  })
})
