// Nodes.GetNodeFlows fans out to each agent's query address: a healthy node's flows come back tagged with its
// name, a dead node's failure comes back in-band, and the call as a whole succeeds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { startAggregator } from '../../agent/src/aggregator/aggregator-server.js'
import { NODE_METADATA } from '../../agent/src/aggregator/node-registry.js'
import { flowLogToWire } from '../../agent/src/grpc/goldmane-mapping.js'
import { createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { createGrpcServer } from '../../agent/src/grpc/grpc-server.js'
import { loadProtos, SERVICE_NAMES, type NodeFlowsImplementation } from '../../agent/src/grpc/load-protos.js'
import type { WireGetFlowsRequest, WireNodeFlowsFanoutResponse } from '../../agent/src/grpc/wire-types.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'

const protos = loadProtos()
const insecure = grpc.credentials.createInsecure()
const START = Math.floor(Date.now() / 1000 / 15) * 15 - 60

function flow (sourceName: string): FlowLog {
  return {
    key: {
      sourceName, sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint', destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint',
      destPort: 8080, destServiceName: '', destServiceNamespace: '', destServicePortName: '', destServicePort: 0, proto: 'tcp', reporter: 'Dst',
      action: 'Allow', policies: { enforced: [], pending: [] }
    },
    startTime: START, endTime: START + 15, sourceLabels: [], destLabels: [],
    packetsIn: 1, packetsOut: 1, bytesIn: 10, bytesOut: 10, connectionsStarted: 1, connectionsCompleted: 1, connectionsLive: 0
  }
}

/** A fake agent query service that answers GetFlows with two flow logs and records the request. */
async function fakeNode (): Promise<{ address: string, requests: WireGetFlowsRequest[], stop: () => Promise<void> }> {
  const requests: WireGetFlowsRequest[] = []
  const implementation: NodeFlowsImplementation = {
    GetFlows: call => {
      requests.push(call.request)
      call.write({ flow: flowLogToWire(flow('web-*')) })
      call.write({ flow: flowLogToWire(flow('cart-*')) })
      call.end()
    },
    GetStatus: (_call, callback) => { callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' }) }
  }
  const server = createGrpcServer({ reflection: false })
  server.addService(SERVICE_NAMES.nodeFlows, protos.shadowflow.NodeFlows.service, implementation)
  const port = await server.bind('127.0.0.1:0', grpc.ServerCredentials.createInsecure())
  return { address: `127.0.0.1:${port}`, requests, stop: async () => { await server.shutdown(200) } }
}

/** A loopback address nobody listens on any more: bound, then shut down. */
async function deadAddress (): Promise<string> {
  const server = createGrpcServer({ reflection: false })
  const port = await server.bind('127.0.0.1:0', grpc.ServerCredentials.createInsecure())
  await server.shutdown(0)
  return `127.0.0.1:${port}`
}

/** Registers a node with the aggregator the way an agent does: a Connect stream with identity metadata. */
async function announce (aggregatorAddress: string, name: string, queryAddress: string): Promise<void> {
  const client = createGrpcClient(protos.goldmane.FlowCollector, aggregatorAddress, insecure)
  const metadata = new grpc.Metadata()
  metadata.set(NODE_METADATA.node, name)
  metadata.set(NODE_METADATA.queryAddress, queryAddress)
  const call = client.Connect(metadata)
  await new Promise<void>((resolve, reject) => {
    call.on('data', () => {})
    call.on('end', resolve)
    call.on('error', reject)
    call.end()
  })
  client.close()
}

async function collect (call: grpc.ClientReadableStream<WireNodeFlowsFanoutResponse>): Promise<WireNodeFlowsFanoutResponse[]> {
  const out: WireNodeFlowsFanoutResponse[] = []
  await new Promise<void>((resolve, reject) => {
    call.on('data', (r: WireNodeFlowsFanoutResponse) => out.push(r))
    call.on('end', resolve)
    call.on('error', reject)
  })
  return out
}

const REQUEST: WireGetFlowsRequest = {
  filter: { sourceNames: [], sourceNamespaces: [], destNames: [], destNamespaces: ['shop'].map(value => ({ value, type: 'Exact' as const })), protocols: [], destPorts: [], actions: [], policies: [] },
  pendingChangedOnly: false, follow: false, since: -300, number: 10, which: 'FLOW_LOGS'
}

test('fan-out: the healthy node\'s flows plus an in-band error for the dead one; one node; unknown node', async () => {
  const healthy = await fakeNode()
  const dead = await deadAddress()
  const aggregator = await startAggregator({ listen: '127.0.0.1:0', perNodeDeadlineMs: 2000 })
  const nodes = createGrpcClient(protos.shadowflow.Nodes, aggregator.address, insecure)
  try {
    await announce(aggregator.address, 'node-a', healthy.address)
    await announce(aggregator.address, 'node-b', dead)
    await announce(aggregator.address, 'node-c', '')

    const all = await collect(nodes.GetNodeFlows({ node: '', request: REQUEST }))
    const a = all.filter(r => r.node === 'node-a')
    assert.deepEqual(a.map(r => r.response?.flow?.Key?.sourceName), ['web-*', 'cart-*'])
    const b = all.filter(r => r.node === 'node-b')
    assert.equal(b.length, 1)
    assert.equal(b[0]?.result, 'error')
    assert.equal(b[0]?.error?.code, grpc.status.UNAVAILABLE)
    const c = all.find(r => r.node === 'node-c')
    assert.equal(c?.error?.code, grpc.status.FAILED_PRECONDITION, 'a node without a query address is reported, not skipped')
    // The node saw the request as the client sent it.
    assert.equal(healthy.requests[0]?.number, 10)
    assert.equal(healthy.requests[0]?.since, -300)
    assert.deepEqual(healthy.requests[0]?.filter?.destNamespaces, [{ value: 'shop', type: 'Exact' }])

    const one = await collect(nodes.GetNodeFlows({ node: 'node-a', request: REQUEST }))
    assert.deepEqual(one.map(r => r.node), ['node-a', 'node-a'])

    await assert.rejects(collect(nodes.GetNodeFlows({ node: 'node-z', request: REQUEST })), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND)
    const bad = { ...REQUEST, filter: { ...REQUEST.filter!, destPorts: [{ port: -1 }] } }
    await assert.rejects(collect(nodes.GetNodeFlows({ node: '', request: bad })), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT)
  } finally {
    nodes.close()
    await aggregator.close(500)
    await healthy.stop()
  }
})
