// The online CLI against a real aggregator on 127.0.0.1:0: `aggregator` as a process that exits 0 on SIGTERM,
// and `flows`, `preview`, `nodes` output for people and as proto3 JSON.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable, PassThrough } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import { startAggregator } from '../../agent/src/aggregator/aggregator-server.js'
import { NODE_METADATA } from '../../agent/src/aggregator/node-registry.js'
import { flowLogToWire } from '../../agent/src/grpc/goldmane-mapping.js'
import { createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { CommandIo } from '../../agent/src/cli/command.js'
import { runAggregator } from '../../agent/src/cli/commands/aggregator.js'
import { runFlows } from '../../agent/src/cli/commands/flows.js'
import { runNodes } from '../../agent/src/cli/commands/nodes.js'
import { runPreview } from '../../agent/src/cli/commands/preview.js'
import type { FlowKey, FlowLog } from '../../agent/src/flows/flow-log.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'

const protos = loadProtos()
const BUCKET = Math.floor(Date.now() / 1000 / 15) * 15 - 60

function hit (fields: Partial<PolicyHit> = {}): PolicyHit {
  return { kind: 'CalicoNetworkPolicy', namespace: 'shop', name: 'allow-api', tier: 'default', action: 'Allow', policyIndex: 0, ruleIndex: 0, ...fields }
}

function flow (fields: Partial<FlowKey>, bytes: number): FlowLog {
  return {
    key: {
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint', destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint',
      destPort: 8080, destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0, proto: 'tcp', reporter: 'Dst',
      action: 'Allow', policies: { enforced: [hit()], pending: [hit()] }, ...fields
    },
    startTime: BUCKET, endTime: BUCKET + 15, sourceLabels: [], destLabels: [],
    packetsIn: 1, packetsOut: 1, bytesIn: bytes, bytesOut: 0, connectionsStarted: 1, connectionsCompleted: 1, connectionsLive: 0
  }
}

const FLOWS = [
  flow({ sourceName: 'web-*' }, 100),
  flow({ sourceName: 'batch-*', sourceNamespace: 'jobs', policies: { enforced: [hit()], pending: [hit({ kind: 'StagedNetworkPolicy', name: 'default-deny', action: 'Deny' })] } }, 40),
  flow({ sourceName: 'api-*', destName: 'db-*', destNamespace: 'data', destPort: 5432 }, 300)
]

async function send (address: string, flows: readonly FlowLog[]): Promise<void> {
  const client = createGrpcClient(protos.goldmane.FlowCollector, address, grpc.credentials.createInsecure())
  const metadata = new grpc.Metadata()
  metadata.set(NODE_METADATA.node, 'node-a')
  metadata.set(NODE_METADATA.queryAddress, '127.0.0.1:9')
  const call = client.Connect(metadata)
  let receipts = 0
  const done = new Promise<void>((resolve, reject) => { call.on('data', () => { receipts++ }); call.on('end', resolve); call.on('error', reject) })
  for (const f of flows) call.write({ flow: flowLogToWire(f) })
  while (receipts < flows.length) await new Promise(resolve => setTimeout(resolve, 5))
  call.end()
  await done
  client.close()
}

function captureIo (): { io: CommandIo, out: () => string } {
  let text = ''
  const stdout = new Writable({ write (chunk: Buffer, _enc, cb) { text += chunk.toString(); cb() } })
  const stderr = new Writable({ write (_chunk, _enc, cb) { cb() } })
  return { io: { stdout, stderr, stdin: new PassThrough(), isTty: false }, out: () => text }
}

test('flows, preview and nodes print what the aggregator holds', async () => {
  const aggregator = await startAggregator({ listen: '127.0.0.1:0' })
  try {
    await send(aggregator.address, FLOWS)
    const server = ['--server', aggregator.address]

    const table = captureIo()
    assert.equal(await runFlows([...server], table.io), 0)
    const lines = table.out().trim().split('\n')
    assert.match(lines[0] ?? '', /^START\s+SOURCE\s+DESTINATION\s+PORT/)
    assert.equal(lines.length, 4)
    assert.ok(lines.some(l => /jobs\/batch-\*\s+shop\/api-\*\s+8080\/tcp\s+Dst\s+Allow\s+Deny \(changes\)/.test(l)), table.out())

    // --namespace matches either end: only the flow to data/db-* has an end in namespace data.
    const data = captureIo()
    assert.equal(await runFlows([...server, '--namespace', 'data', '--json'], data.io), 0)
    const json = data.out().trim().split('\n').map(l => JSON.parse(l) as { Key: { destName: string, destPort: string }, bytesIn: string })
    assert.deepEqual(json.map(f => [f.Key.destName, f.Key.destPort, f.bytesIn]), [['db-*', '5432', '300']], 'proto3 JSON: int64 as strings')

    const either = captureIo()
    assert.equal(await runFlows([...server, '--namespace', 'shop', '--json'], either.io), 0)
    assert.equal(either.out().trim().split('\n').length, 3, 'shop at the source of two flows and the destination of two, three in all')

    const changed = captureIo()
    assert.equal(await runFlows([...server, '--pending-changed', '--json'], changed.io), 0)
    assert.equal(changed.out().trim().split('\n').length, 1)

    const preview = captureIo()
    assert.equal(await runPreview([...server], preview.io), 0)
    assert.match(preview.out(), /1 flow would change \(1 connections, 40 bytes\): 1 newly denied, 0 newly allowed/)
    assert.match(preview.out(), /shop\/default-deny\s+StagedNetworkPolicy\s+default\s+1\s+1\s+0/)
    assert.match(preview.out(), /jobs\/batch-\*\s+shop\/api-\*\s+8080\/tcp\s+Dst\s+Allow\s+Deny/)

    const previewJson = captureIo()
    assert.equal(await runPreview([...server, '--json'], previewJson.io), 0)
    const report = JSON.parse(previewJson.out()) as { changed: { flows: string, newlyDenied: string }, groups: Array<{ policy: { name: string } }> }
    assert.equal(report.changed.newlyDenied, '1')
    assert.equal(report.groups[0]?.policy.name, 'default-deny')

    const nodes = captureIo()
    assert.equal(await runNodes([...server], nodes.io), 0)
    assert.match(nodes.out(), /node-a\s+disconnected\s+127\.0\.0\.1:9\s+.*\s+3\s+0\n$/)
  } finally {
    await aggregator.close(500)
  }
})

test('flows --follow streams flows as they arrive and ends cleanly when interrupted', async () => {
  const aggregator = await startAggregator({ listen: '127.0.0.1:0', streamTickMs: 20, streamSettleSeconds: 0 })
  try {
    const follow = captureIo()
    const controller = new AbortController()
    const running = runFlows(['--server', aggregator.address, '--follow', '--since', '-10m', '--namespace', 'jobs', '--json'], follow.io, controller.signal)
    await send(aggregator.address, FLOWS)
    const deadline = Date.now() + 5000
    while (follow.out() === '' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    await new Promise(resolve => setTimeout(resolve, 100))
    controller.abort()
    assert.equal(await running, 0)
    const lines = follow.out().trim().split('\n').map(l => JSON.parse(l) as { Key: { sourceName: string } })
    assert.deepEqual(lines.map(l => l.Key.sourceName), ['batch-*'], 'once, although both the source and destination streams were asked')
  } finally {
    await aggregator.close(500)
  }
})

test('`shadowflow aggregator` runs as a process, serves, and exits 0 on SIGTERM', async () => {
  const module = new URL('../../agent/src/cli/commands/aggregator.js', import.meta.url).href
  const script = `import(${JSON.stringify(module)}).then(m => m.aggregatorCommand.run(['--listen', '127.0.0.1:0', '--retention', '10m', '--log-level', 'warn'], { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTty: false })).then(code => process.exit(code), e => { console.error(e); process.exit(70) })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    let stdout = ''
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        const match = /listening on (127\.0\.0\.1:\d+)/.exec(stdout)
        if (match !== null) resolve(match[1] as string)
      })
      child.once('exit', code => reject(new Error(`exited early with ${String(code)}`)))
    })
    await send(address, FLOWS.slice(0, 1))
    const nodes = captureIo()
    assert.equal(await runNodes(['--server', address], nodes.io), 0)
    assert.match(nodes.out(), /node-a/)
    const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})

test('`shadowflow aggregator --config FILE`: the file, SHADOWFLOW_* and flags in that order; the agent\'s variables are left alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shadowflow-aggregator-config-'))
  const file = join(dir, 'aggregator.yaml')
  // A 15 s retention: the test flows (a minute old) are refused unless a later layer lengthens it.
  writeFileSync(file, 'listen: 127.0.0.1:0\nretention: 15s\nmetricsAddr: 127.0.0.1:0\nlogLevel: info\n')
  // SHADOWFLOW_SOURCE is the agent's (a shared ConfigMap): not an error here.
  const env = { SHADOWFLOW_LOG_LEVEL: 'warn', SHADOWFLOW_SOURCE: 'pcap:cali*' }
  const storedWith = async (argv: string[], moreEnv: Record<string, string> = {}): Promise<{ stored: number, started: string }> => {
    const io = captureIo()
    let stored = -1
    const code = await runAggregator(['--config', file, ...argv], io.io, async aggregator => {
      await send(aggregator.address, FLOWS)
      const listed = captureIo()
      assert.equal(await runFlows(['--server', aggregator.address, '--json'], listed.io), 0)
      stored = listed.out().trim() === '' ? 0 : listed.out().trim().split('\n').length
    }, { ...env, ...moreEnv })
    assert.equal(code, 0)
    return { stored, started: io.out() }
  }
  const fromFile = await storedWith([])
  assert.equal(fromFile.stored, 0, 'retention 15s from the file: minute-old flows refused')
  assert.match(fromFile.started, /listening on 127\.0\.0\.1:\d+ \(insecure\), metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'metricsAddr from the file')
  assert.equal((await storedWith([], { SHADOWFLOW_RETENTION: '10m' })).stored, FLOWS.length, 'the environment overrides the file')
  assert.equal((await storedWith(['--retention', '15s'], { SHADOWFLOW_RETENTION: '10m' })).stored, 0, 'the flag overrides the environment')

  // Every problem of every layer at once: file:line with a hint, the variable, the flag.
  writeFileSync(file, 'listen: 127.0.0.1:0\nretension: 1h\nmaxFlows: 0\n')
  await assert.rejects(runAggregator(['--config', file, '--shutdown-grace', 'soon'], captureIo().io, async () => {}, { SHADOWFLOW_RETENTION: '100s', SHADOWFLOW_LISTN: 'x' }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'ERR_CONFIG_INVALID')
    assert.match(error.message, /5 problems/)
    assert.match(error.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: retension: unknown key \\(did you mean retention\\?\\)`))
    assert.match(error.message, /aggregator\.yaml:3: maxFlows: must be between 1 and \d+, got 0/)
    assert.match(error.message, /environment SHADOWFLOW_RETENTION: must be a multiple of 15, got 100 seconds/)
    assert.match(error.message, /environment SHADOWFLOW_LISTN: unknown variable \(did you mean SHADOWFLOW_LISTEN\?\)/)
    assert.match(error.message, /--shutdown-grace: must be a duration/)
    return true
  })
})
