// The exporter against real gRPC servers on 127.0.0.1: resend of the unacknowledged after a reconnection to the
// same aggregator instance, resend of everything buffered when a new instance answers, metadata on the call.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { FlowExporter } from '../../agent/src/agent/flow-exporter.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlowReceipt, WireFlowUpdate } from '../../agent/src/grpc/wire-types.js'
import { silentLogger } from '../../agent/src/telemetry/logger.js'

function flowLog (startTime: number): FlowLog {
  return {
    key: {
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint', destName: 'pub', destNamespace: '', destType: 'Network',
      destPort: 443, destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0, proto: 'tcp',
      reporter: 'Src', action: 'Allow', policies: { enforced: [], pending: [] }
    },
    startTime,
    endTime: startTime + 15,
    sourceLabels: [],
    destLabels: [],
    packetsIn: 1, packetsOut: 1, bytesIn: 10, bytesOut: 10, connectionsStarted: 1, connectionsCompleted: 1, connectionsLive: 0
  }
}

interface Collector { port: number, received: number[], node: string[], stop: () => void }

/** A FlowCollector with an instance id; `ack` false withholds receipts. */
async function collector (port: number, instance: string, ack: boolean): Promise<Collector> {
  const server = new grpc.Server()
  const received: number[] = []
  const node: string[] = []
  server.addService(loadProtos().goldmane.FlowCollector.service, {
    Connect: (call: grpc.ServerDuplexStream<WireFlowUpdate, WireFlowReceipt>) => {
      node.push(String(call.metadata.get('x-shadowflow-node')[0]))
      const md = new grpc.Metadata()
      md.set('x-shadowflow-instance', instance)
      call.sendMetadata(md)
      call.on('data', (u: WireFlowUpdate) => { received.push(u.flow?.startTime ?? -1); if (ack) call.write({}) })
      call.on('error', () => {})
      call.on('end', () => { call.end() })
    }
  })
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => { if (e === null) resolve(p); else reject(e) })
  })
  return { port: bound, received, node, stop: () => { server.forceShutdown() } }
}

async function until (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function exporter (port: number): FlowExporter {
  return new FlowExporter({
    protos: loadProtos(),
    address: `127.0.0.1:${port}`,
    credentials: grpc.credentials.createInsecure(),
    nodeName: 'node-x',
    queryAddress: () => '127.0.0.1:1234',
    maxBufferBytes: 1 << 20,
    maxBufferAgeMs: 60_000,
    logger: silentLogger(),
    backoffInitialMs: 20,
    backoffMaxMs: 200
  })
}

describe('flow exporter', { timeout: 30_000 }, () => {
  test('after a reconnection to the same instance only unacknowledged flow logs are resent', async () => {
    const first = await collector(0, 'instance-a', true)
    const ex = exporter(first.port)
    ex.start()
    try {
      ex.enqueue([flowLog(0), flowLog(15)])
      await until('two receipts', () => ex.status().acks === 2)
      first.stop()
      // Same instance, but now withholding receipts: 30 is sent and stays unacknowledged.
      const second = await collector(first.port, 'instance-a', false)
      ex.enqueue([flowLog(30)])
      await until('the third flow log', () => second.received.includes(30))
      assert.deepEqual(second.received, [30], 'acknowledged flow logs are not resent to the same instance')
      second.stop()
      const third = await collector(first.port, 'instance-a', true)
      await until('the resend', () => third.received.length === 1 && ex.status().acks === 3)
      assert.deepEqual(third.received, [30])
      assert.equal(third.node[0], 'node-x')
      assert.ok(ex.status().reconnects >= 2)
      assert.ok(ex.status().resent >= 1)
      third.stop()
    } finally {
      await ex.stop(0)
    }
  })

  test('a new aggregator instance gets every buffered flow log again (it deduplicates)', async () => {
    const first = await collector(0, 'instance-a', true)
    const ex = exporter(first.port)
    ex.start()
    try {
      ex.enqueue([flowLog(0), flowLog(15), flowLog(30)])
      await until('three receipts', () => ex.status().acks === 3)
      first.stop()
      const restarted = await collector(first.port, 'instance-b', true)
      await until('everything again', () => restarted.received.length === 3)
      assert.deepEqual(restarted.received, [0, 15, 30])
      assert.equal(ex.status().instance, 'instance-b')
      restarted.stop()
    } finally {
      await ex.stop(0)
    }
  })

  test('stop waits for receipts up to the deadline and counts what is left as lost', async () => {
    const silent = await collector(0, 'instance-a', false)
    const ex = exporter(silent.port)
    ex.start()
    ex.enqueue([flowLog(0)])
    await until('the flow log', () => silent.received.length === 1)
    const started = Date.now()
    const result = await ex.stop(300)
    assert.ok(Date.now() - started >= 250, 'waited for the deadline')
    assert.deepEqual(result, { acknowledged: false, lost: 1 })
    assert.equal(ex.status().dropped.stopped, 1)
    silent.stop()
  })
})
