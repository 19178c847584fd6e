// The running aggregator and agent query service against bad clients, as real processes on 127.0.0.1:
// malformed and oversized requests get INVALID_ARGUMENT / RESOURCE_EXHAUSTED and both keep serving; with
// --tls-cert/--tls-key/--tls-ca on every process, every link is mutual TLS (agent → aggregator export, CLI →
// aggregator, aggregator → agent fan-out) and a client without a valid certificate is refused on both servers.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlow } from '../../agent/src/grpc/wire-types.js'
import { emptyFilter, listRequest, sortedEntries, totalsOf, waitForTotals } from './helpers/aggregator-queries.js'
import { conversationsOf, expectedFlowTotals, readCapturePackets, readPodsByIp, restampPcap } from './helpers/capture-facts.js'
import {
  clientCredentials, collectStream, healthStatus, ProcessHarness, runShadowflow, SHOP_CAPTURE, SHOP_DIR, startAgentProcess,
  startAggregatorProcess, waitForCaptureEnd, type TlsPaths
} from './helpers/system-harness.js'

const protos = loadProtos()
const insecure = grpc.credentials.createInsecure()
const harness = new ProcessHarness()
const dir = mkdtempSync(join(tmpdir(), 'shadowflow-system-security-'))
const capture = join(dir, 'shop-now.pcap')
restampPcap(SHOP_CAPTURE, capture, BigInt(Math.floor(Date.now() / 1000 / 15) * 15 - 60 + 1) * 1_000_000_000n)
const expectedA = expectedFlowTotals(conversationsOf(readCapturePackets(capture)), readPodsByIp(join(SHOP_DIR, 'pods.yaml')), new Set(['node-a']))

after(async () => {
  await harness.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

async function statusOf (promise: Promise<unknown>): Promise<{ code: number, details: string }> {
  try {
    await promise
    return { code: grpc.status.OK, details: '' }
  } catch (error) {
    return { code: (error as grpc.ServiceError).code, details: (error as grpc.ServiceError).details }
  }
}

/** A raw unary call of `path` with `bytes` as the request message (no protobuf encoding on our side). */
async function rawUnary (address: string, path: string, bytes: Buffer): Promise<{ code: number, details: string }> {
  const client = new grpc.Client(address, insecure)
  try {
    return await statusOf(new Promise((resolve, reject) => {
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (error, value) => { if (error !== null) reject(error); else resolve(value) })
    }))
  } finally {
    client.close()
  }
}

/** A raw server-streaming call of `path` with `bytes` as the request message; resolves with the final status. */
async function rawServerStream (address: string, path: string, bytes: Buffer): Promise<{ code: number, details: string }> {
  const client = new grpc.Client(address, insecure)
  try {
    const call = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + 5000 })
    return await statusOf(collectStream(call))
  } finally {
    client.close()
  }
}

// Field 1, length-delimited, announcing far more bytes than follow: not a protobuf message.
const GARBAGE = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0xde, 0xad, 0xbe, 0xef])
// The servers' receive limit is 4 MiB; the client's send limit is raised so the server is the one refusing.
const BIG_CLIENT = { maxSendMessageBytes: 64 * 1024 * 1024 }
const hugeFilter = emptyFilter({ sourceNames: [{ value: 'x'.repeat(5 * 1024 * 1024), type: 'Exact' }] })

describe('system: bad requests and TLS', { timeout: 90_000 }, () => {
  test('malformed and oversized requests get INVALID_ARGUMENT / RESOURCE_EXHAUSTED on the aggregator and the agent, which keep serving', async () => {
    const aggregator = await startAggregatorProcess(harness, { name: 'aggregator (bad requests)' })
    const agent = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${capture}`, files: [SHOP_DIR], aggregator: aggregator.address })
    await waitForCaptureEnd(agent)
    await waitForTotals(aggregator.address, expectedA)

    const flows = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure, BIG_CLIENT)
    const nodeFlows = createGrpcClient(protos.shadowflow.NodeFlows, agent.query, insecure, BIG_CLIENT)
    try {
      // Above the page-size limit (10,000).
      const pageSize = await statusOf(callUnary(flows, 'List', listRequest({ pageSize: 1_000_000 }), { deadlineMs: 5000 }))
      assert.equal(pageSize.code, grpc.status.INVALID_ARGUMENT)
      assert.match(pageSize.details, /page_size/)
      // Above the 4 MiB receive limit, refused by the server (a client-side refusal would say "Sent message").
      const bigList = await statusOf(callUnary(flows, 'List', listRequest({ filter: hugeFilter }), { deadlineMs: 10_000 }))
      assert.equal(bigList.code, grpc.status.RESOURCE_EXHAUSTED)
      assert.match(bigList.details, /Received message larger than max/)
      const bigGetFlows = await statusOf(collectStream(nodeFlows.GetFlows({ filter: hugeFilter, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 })))
      assert.equal(bigGetFlows.code, grpc.status.RESOURCE_EXHAUSTED)
      assert.match(bigGetFlows.details, /Received message larger than max/)
      // Bytes that are not protobuf, on a unary and a streaming method of each server.
      for (const [address, path, streaming] of [
        [aggregator.address, '/goldmane.Flows/List', false], [aggregator.address, '/goldmane.Flows/FilterHints', false],
        [aggregator.address, '/goldmane.Statistics/List', true], [aggregator.address, '/shadowflow.v1.Impact/GetImpact', false],
        [agent.query, '/shadowflow.v1.NodeFlows/GetStatus', false], [agent.query, '/shadowflow.v1.NodeFlows/GetFlows', true]
      ] as const) {
        const status = streaming ? await rawServerStream(address, path, GARBAGE) : await rawUnary(address, path, GARBAGE)
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT, `${path}: ${status.details}`)
      }

      // Both still answer health checks and queries.
      assert.equal(await healthStatus(aggregator.address), 'SERVING')
      assert.equal(await healthStatus(agent.query), 'SERVING')
      const listed = await callUnary(flows, 'List', listRequest(), { deadlineMs: 5000 })
      assert.deepEqual(sortedEntries(totalsOf(listed.flows.map(r => r.flow as WireFlow))), sortedEntries(expectedA))
      const status = await callUnary(nodeFlows, 'GetStatus', {}, { deadlineMs: 5000 })
      assert.deepEqual([status.node, status.exporter?.state], ['node-a', 'EXPORTER_CONNECTED'])
      const recent = await collectStream(nodeFlows.GetFlows({ filter: null, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' }))
      assert.equal(recent.length, expectedA.size)
    } finally {
      flows.close()
      nodeFlows.close()
    }
  })

  test('mutual TLS on every link: the agent exports, `shadowflow flows` reads, the fan-out reaches the agent; clients without a valid certificate are refused by both', async () => {
    const certs = join(dir, 'certs')
    execFileSync('mkdir', ['-p', certs])
    const file = (name: string): string => join(certs, name)
    const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: certs, stdio: ['ignore', 'ignore', 'pipe'] }) }
    const makeCa = (name: string): void => {
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`))
    }
    // Servers that are also clients (the agent exports, the aggregator fans out): both usages, valid for 127.0.0.1.
    const makeLeaf = (name: string, ca: string, serial: string, usage = 'serverAuth,clientAuth', san = 'IP:127.0.0.1,DNS:localhost'): TlsPaths => {
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`))
      writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`)
      openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`), '-set_serial', serial, '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`))
      return { cert: file(`${name}.crt`), key: file(`${name}.key`), ca: file(`${ca}.crt`) }
    }
    makeCa('ca')
    makeCa('rogue-ca')
    const aggregatorTls = makeLeaf('aggregator', 'ca', '01')
    const agentTls = makeLeaf('node-a', 'ca', '02')
    const operatorTls = makeLeaf('operator', 'ca', '03', 'clientAuth')
    const rogueTls = { ...makeLeaf('rogue', 'rogue-ca', '04', 'clientAuth'), ca: file('ca.crt') }

    const aggregator = await startAggregatorProcess(harness, { name: 'aggregator (mtls)', tls: aggregatorTls })
    const agent = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${capture}`, files: [SHOP_DIR], aggregator: aggregator.address, tls: agentTls })
    await waitForCaptureEnd(agent)
    const operator = await clientCredentials(operatorTls)
    // agent → aggregator over mTLS: everything exported.
    await waitForTotals(aggregator.address, expectedA, 15_000, operator)

    // CLI → aggregator over mTLS (proto3 JSON: int64 as strings, zero values omitted).
    const cli = await runShadowflow(['flows', '--server', aggregator.address, '--tls-ca', operatorTls.ca, '--tls-cert', operatorTls.cert, '--tls-key', operatorTls.key, '--json', '--limit', '0'])
    assert.equal(cli.code, 0, cli.stderr)
    const printed = cli.stdout.trim().split('\n').map(l => JSON.parse(l) as { Key: { reporter: string, sourceNamespace: string, sourceName: string, destNamespace: string, destName: string, proto: string, destPort?: string }, packetsIn?: string, packetsOut?: string, bytesIn?: string, bytesOut?: string, numConnectionsStarted?: string })
    const asWire = printed.map(f => ({ Key: { ...f.Key, destPort: Number(f.Key.destPort ?? 0) }, packetsIn: Number(f.packetsIn ?? 0), packetsOut: Number(f.packetsOut ?? 0), bytesIn: Number(f.bytesIn ?? 0), bytesOut: Number(f.bytesOut ?? 0), numConnectionsStarted: Number(f.numConnectionsStarted ?? 0) }) as unknown as WireFlow)
    assert.deepEqual(sortedEntries(totalsOf(asWire)), sortedEntries(expectedA))

    // aggregator → agent fan-out over mTLS (the aggregator presents its own certificate).
    const nodes = createGrpcClient(protos.shadowflow.Nodes, aggregator.address, operator)
    try {
      const fanout = await collectStream(nodes.GetNodeFlows({ node: 'node-a', request: { filter: null, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' } }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }))
      assert.deepEqual(fanout.filter(r => r.error !== null && r.error !== undefined), [])
      assert.equal(fanout.length, expectedA.size)
    } finally {
      nodes.close()
    }

    // Refused on both servers: plaintext, TLS without a client certificate, a certificate from another CA.
    const { readFile } = await import('node:fs/promises')
    const caOnly = grpc.credentials.createSsl(await readFile(file('ca.crt')))
    for (const address of [aggregator.address, agent.query]) {
      assert.equal(await healthStatus(address, operator), 'SERVING', address)
      assert.notEqual(await healthStatus(address, insecure), 'SERVING', `${address} plaintext`)
      assert.equal(await healthStatus(address, caOnly), 'UNAVAILABLE', `${address} without a client certificate`)
      assert.equal(await healthStatus(address, await clientCredentials(rogueTls)), 'UNAVAILABLE', `${address} with a certificate of another CA`)
    }
    const refused = await runShadowflow(['flows', '--server', aggregator.address, '--tls-ca', operatorTls.ca, '--json', '--timeout', '3'])
    assert.notEqual(refused.code, 0)
    assert.equal(refused.stdout, '')

    // As deployed: one agent certificate for every node, naming shadowflow-agent and no address. The fan-out
    // dials the agent by IP, so its name check fails in-band unless --agent-server-name says what to expect.
    const sharedAgentTls = makeLeaf('shadowflow-agent', 'ca', '05', 'serverAuth,clientAuth', 'DNS:shadowflow-agent')
    const named = await startAggregatorProcess(harness, { name: 'aggregator (agent server name)', tls: aggregatorTls, args: ['--agent-server-name', 'shadowflow-agent'] })
    const plain = await startAggregatorProcess(harness, { name: 'aggregator (no agent server name)', tls: aggregatorTls })
    const shared = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${capture}`, files: [SHOP_DIR], aggregator: named.address, tls: sharedAgentTls })
    const other = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${capture}`, files: [SHOP_DIR], aggregator: plain.address, tls: sharedAgentTls })
    await waitForCaptureEnd(shared)
    await waitForCaptureEnd(other)
    await waitForTotals(named.address, expectedA, 15_000, operator)
    await waitForTotals(plain.address, expectedA, 15_000, operator)
    const fanOut = async (address: string): Promise<Array<{ error?: unknown }>> => {
      const client = createGrpcClient(protos.shadowflow.Nodes, address, operator)
      try {
        return await collectStream(client.GetNodeFlows({ node: 'node-a', request: { filter: null, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' } }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }))
      } finally {
        client.close()
      }
    }
    const good = await fanOut(named.address)
    assert.deepEqual(good.filter(r => r.error !== null && r.error !== undefined), [])
    assert.equal(good.length, expectedA.size)
    const bad = await fanOut(plain.address)
    assert.equal(bad.length, 1)
    assert.ok(bad[0]?.error !== null && bad[0]?.error !== undefined, 'the name mismatch is reported in-band')
  })
})
