// The whole system as real processes on 127.0.0.1: one `shadowflow aggregator`, two `shadowflow agent`s (node-a
// and node-b of examples/shop, each reading a re-stamped copy of the shop capture and reporting the flows of its
// own pods), queried over gRPC and through the CLI. Every expectation about traffic is computed from the capture
// by the test's own pcap reader (helpers/capture-facts.ts), not by shadowflow.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlow, WireFlowResult, WireNodeFlowsFanoutResponse, WirePolicyHit, WireStatisticsResult } from '../../agent/src/grpc/wire-types.js'
import { conversationsOf, expectedFlowTotals, readCapturePackets, readPodsByIp, restampPcap, type Conversation, type PodFacts } from './helpers/capture-facts.js'
import { listFlows, sortedEntries, totalsOf, waitForTotals, wireTotalsKey } from './helpers/aggregator-queries.js'
import {
  collectStream, ProcessHarness, runShadowflow, SHOP_CAPTURE, SHOP_DIR, startAgentProcess, startAggregatorProcess, until, waitForCaptureEnd,
  type AgentProcess, type AggregatorProcess
} from './helpers/system-harness.js'

const protos = loadProtos()
const insecure = grpc.credentials.createInsecure()
const harness = new ProcessHarness()
const dir = mkdtempSync(join(tmpdir(), 'shadowflow-system-e2e-'))
const capture = join(dir, 'shop-now.pcap')
// A minute ago, one second into a 15 s bucket: inside the retention window, and old enough that a Stream sends
// its buckets as soon as they arrive (a bucket settles 15 s after it ends).
const firstSecond = Math.floor(Date.now() / 1000 / 15) * 15 - 60 + 1
restampPcap(SHOP_CAPTURE, capture, BigInt(firstSecond) * 1_000_000_000n)
const conversations: Conversation[] = conversationsOf(readCapturePackets(capture))
const pods: Map<string, PodFacts> = readPodsByIp(join(SHOP_DIR, 'pods.yaml'))
const expected = expectedFlowTotals(conversations, pods)

const hitsOf = (f: WireFlow): WirePolicyHit[] => [...(f.Key?.policies?.enforcedPolicies ?? []), ...(f.Key?.policies?.pendingPolicies ?? [])]
const packetsOfConversations = (where: (client: PodFacts, server: PodFacts, c: Conversation) => boolean): number =>
  conversations.filter(c => where(pods.get(c.clientIp) as PodFacts, pods.get(c.serverIp) as PodFacts, c)).reduce((n, c) => n + c.packetsForward + c.packetsReverse, 0)

describe('system: one aggregator and two agents on 127.0.0.1', { timeout: 90_000 }, () => {
  let aggregator: AggregatorProcess
  const agents: AgentProcess[] = []
  const streamed: WireFlowResult[] = []
  let stream: grpc.ClientReadableStream<WireFlowResult> | undefined
  let flowsClient: InstanceType<typeof protos.goldmane.Flows>
  let listed: WireFlow[] = []

  before(async () => {
    assert.ok(conversations.length >= 10 && new Set([...pods.values()].map(p => p.node)).size === 2, 'the shop capture and pods are what this test is about')
    aggregator = await startAggregatorProcess(harness)
    flowsClient = createGrpcClient(protos.goldmane.Flows, aggregator.address, insecure)
    // Opened before any agent exists: everything it receives arrived after it started.
    stream = flowsClient.Stream({ startTimeGte: -3600, filter: null, aggregationInterval: 15 })
    stream.on('data', (r: WireFlowResult) => { streamed.push(r) })
    stream.on('error', () => {})
    await until('the stream to be registered', async () => {
      const text = await (await fetch(`http://${aggregator.metricsAddress}/metrics`)).text()
      return /^shadowflow_aggregator_live_streams 1$/m.test(text) ? true : undefined
    }, 5000)
    for (const node of ['node-a', 'node-b']) {
      agents.push(await startAgentProcess(harness, { node, source: `pcap-file:${capture}`, files: [SHOP_DIR], aggregator: aggregator.address }))
    }
    await Promise.all(agents.map(waitForCaptureEnd))
    listed = await waitForTotals(aggregator.address, expected)
  })

  after(async () => {
    stream?.cancel()
    flowsClient?.close()
    await harness.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  test('List: per (reporter, source, destination, protocol, port) the packets, bytes and connections equal the capture\'s', async () => {
    assert.deepEqual(sortedEntries(totalsOf(listed)), sortedEntries(expected))
    // One result per key: node-a and node-b never report the same key (each reports its own pods' ends).
    const keys = listed.map(f => JSON.stringify(f.Key))
    assert.equal(new Set(keys).size, keys.length)
    // Per 15 s window the same totals (the capture's 3 s may straddle a bucket boundary or not).
    const windows = await listFlows(aggregator.address, insecure, { aggregationInterval: 15 })
    assert.deepEqual(sortedEntries(totalsOf(windows)), sortedEntries(expected))
    // A filter: flows to database pods only.
    const toDatabase = await listFlows(aggregator.address, insecure, { filter: { sourceNames: [], sourceNamespaces: [], destNames: [], destNamespaces: [{ value: 'database', type: 'Exact' }], protocols: [], destPorts: [], actions: [], policies: [] } })
    assert.deepEqual(sortedEntries(totalsOf(toDatabase)), sortedEntries(expected).filter(([k]) => / -> database\//.test(k)))
  })

  test('FilterHints: destination names and namespaces of the capture, and the policy names of the traces', async () => {
    const hints = async (type: 'FilterTypeDestName' | 'FilterTypeDestNamespace' | 'FilterTypeSourceNamespace' | 'FilterTypePolicyName'): Promise<string[]> =>
      (await callUnary(flowsClient, 'FilterHints', { type, filter: null, startTimeGte: 0, startTimeLt: 0, page: 0, pageSize: 0 }, { deadlineMs: 5000 })).hints.map(h => h.value).sort()
    const serverPods = conversations.map(c => pods.get(c.serverIp) as PodFacts)
    const clientPods = conversations.map(c => pods.get(c.clientIp) as PodFacts)
    assert.deepEqual(await hints('FilterTypeDestName'), [...new Set(serverPods.map(p => p.name))].sort())
    assert.deepEqual(await hints('FilterTypeDestNamespace'), [...new Set(serverPods.map(p => p.namespace))].sort())
    assert.deepEqual(await hints('FilterTypeSourceNamespace'), [...new Set(clientPods.map(p => p.namespace))].sort())
    const policyNames = await hints('FilterTypePolicyName')
    assert.deepEqual(policyNames, [...new Set(listed.flatMap(hitsOf).map(h => h.name).filter(n => n !== ''))].sort())
    // The policies the README says this traffic hits, enforced and staged.
    for (const name of ['security.quarantine', 'security.pass-to-application-tiers', 'default.allow-web-to-postgres', 'default.allow-toolbox-debug', 'default.allow-tcp-6379', 'test-network-policy']) {
      assert.ok(policyNames.includes(name), `${name} in ${policyNames.join(', ')}`)
    }
  })

  test('Statistics: every policy a flow hit has non-zero counts; the quarantine and the staged allow count exactly the capture\'s packets', async () => {
    const client = createGrpcClient(protos.goldmane.Statistics, aggregator.address, insecure)
    let rows: WireStatisticsResult[]
    try {
      rows = await collectStream(client.List({ startTimeGte: 0, startTimeLt: 0, type: 'PacketCount', groupBy: 'Policy', policyMatch: null, timeSeries: false }))
    } finally {
      client.close()
    }
    const total = (r: WireStatisticsResult): number => [...r.allowedIn, ...r.allowedOut, ...r.deniedIn, ...r.deniedOut, ...r.passedIn, ...r.passedOut].reduce((a, b) => a + b, 0)
    const named = (kind: string, name: string): WireStatisticsResult => {
      const row = rows.find(r => r.policy?.kind === kind && r.policy.name === name)
      assert.ok(row !== undefined, `a statistics row for ${kind} ${name}`)
      return row
    }
    const enforcedNames = new Set(listed.flatMap(f => f.Key?.policies?.enforcedPolicies ?? []).filter(h => h.kind !== 'EndOfTier').map(h => `${h.kind} ${h.namespace}/${h.name}`))
    assert.ok(enforcedNames.size >= 4)
    for (const id of enforcedNames) {
      const row = rows.find(r => `${r.policy?.kind ?? ''} ${r.policy?.namespace ?? ''}/${r.policy?.name ?? ''}` === id)
      assert.ok(row !== undefined && total(row) > 0, `non-zero statistics for ${id}`)
    }
    // security.quarantine denies old-debug's egress (reported by the source's node): every packet of its
    // conversations, and nothing else.
    const quarantined = packetsOfConversations(client => client.name === 'old-debug')
    assert.ok(quarantined > 0)
    const quarantine = named('GlobalNetworkPolicy', 'security.quarantine')
    assert.deepEqual([quarantine.deniedOut[0], total(quarantine)], [quarantined, quarantined])
    // The staged global allow-tcp-6379 would allow the frontend's TCP 6379 into redis-0 (ingress, reporter Dst).
    const toRedis = packetsOfConversations((client, server, c) => client.namespace === 'frontend' && server.name === 'redis-0' && c.proto === 'tcp' && c.serverPort === 6379)
    assert.ok(toRedis > 0)
    const staged = named('StagedGlobalNetworkPolicy', 'default.allow-tcp-6379')
    assert.deepEqual([staged.allowedIn[0], total(staged)], [toRedis, toRedis])
  })

  test('Stream: the flows that arrived after the stream started are delivered, one per key and bucket', async () => {
    const windows = await listFlows(aggregator.address, insecure, { aggregationInterval: 15 })
    const slot = (r: { Key?: unknown, startTime: number }): string => `${r.startTime} ${JSON.stringify(r.Key)}`
    const want = new Set(windows.map(slot))
    const got = await until('every (key, bucket) on the stream', () => {
      const latest = new Map<string, WireFlow>()
      for (const r of streamed) if (r.flow !== null && r.flow !== undefined) latest.set(slot(r.flow), r.flow)
      return [...want].every(s => latest.has(s)) ? latest : undefined
    }, 20_000)
    assert.deepEqual([...got.keys()].sort(), [...want].sort())
    assert.deepEqual(sortedEntries(totalsOf([...got.values()])), sortedEntries(expected))
  })

  test('Impact: `shadowflow preview --json` names the same staged policies and counts as `shadowflow replay` of the capture', async () => {
    const preview = await runShadowflow(['preview', '--server', aggregator.address, '--json'])
    assert.equal(preview.code, 0, preview.stderr)
    // proto3 JSON: int64 as strings, zero values omitted.
    const report = JSON.parse(preview.stdout) as { changed?: Record<string, string>, groups?: Array<{ policy?: { kind?: string, namespace?: string, name?: string }, totals?: Record<string, string> }> }
    const replay = await runShadowflow(['replay', '--pcap', capture, '-f', SHOP_DIR])
    assert.equal(replay.code, 0, replay.stderr)
    const impact = /Impact\s+(\d+) flows? would change \((\d+) connections\): (\d+) newly denied, (\d+) newly allowed/.exec(replay.stdout)
    assert.ok(impact !== null, replay.stdout)
    const n = (v: string | undefined): number => Number(v ?? 0)
    assert.deepEqual(
      [n(report.changed?.flows), n(report.changed?.connections), n(report.changed?.newlyDenied), n(report.changed?.newlyAllowed)],
      impact.slice(1, 5).map(Number))
    // The replay's "By policy" table: POLICY KIND TIER FLOWS NEWLY-DENIED NEWLY-ALLOWED CONNECTIONS BYTES.
    const table = replay.stdout.split('By policy\n')[1]?.split('\n\n')[0]?.split('\n').slice(1) ?? []
    const replayGroups = table.map(line => line.trim().split(/\s+/)).map(([policy, kind, , flows, denied, allowed, connections, bytes]) => ({ policy, kind, flows, denied, allowed, connections, bytes }))
    const previewGroups = (report.groups ?? []).map(g => ({
      policy: g.policy?.namespace === undefined || g.policy.namespace === '' ? g.policy?.name : `${g.policy.namespace}/${g.policy.name ?? ''}`,
      kind: g.policy?.kind,
      flows: String(n(g.totals?.flows)),
      denied: String(n(g.totals?.newlyDenied)),
      allowed: String(n(g.totals?.newlyAllowed)),
      connections: String(n(g.totals?.connections)),
      bytes: String(n(g.totals?.bytes))
    }))
    assert.ok(replayGroups.length >= 2, replay.stdout)
    const byName = <T extends { policy?: string | undefined }>(a: T, b: T): number => (a.policy ?? '').localeCompare(b.policy ?? '')
    assert.deepEqual(previewGroups.sort(byName), replayGroups.sort(byName))
    // The README's two staged policies that change this traffic.
    assert.deepEqual(previewGroups.map(g => g.policy).sort(), ['database/test-network-policy', 'default.allow-tcp-6379'])
  })

  test('`shadowflow nodes` lists both agents connected with their query addresses', async () => {
    const out = await runShadowflow(['nodes', '--server', aggregator.address, '--json'])
    assert.equal(out.code, 0, out.stderr)
    const nodes = out.stdout.trim().split('\n').map(l => JSON.parse(l) as { name: string, connected?: boolean, queryAddress?: string, updatesReceived?: string })
    assert.deepEqual(nodes.map(n => [n.name, n.connected, n.queryAddress]).sort(), agents.map(a => [a.proc.name.replace('agent ', ''), true, a.query]).sort())
    // Every flow log the two agents exported arrived (updates received = flow logs exported, no resends).
    assert.equal(nodes.reduce((s, n) => s + Number(n.updatesReceived ?? 0), 0), listed.length)
  })

  test('NodeFlows fan-out through the aggregator returns each node\'s own flow logs', async () => {
    const client = createGrpcClient(protos.shadowflow.Nodes, aggregator.address, insecure)
    let responses: WireNodeFlowsFanoutResponse[]
    try {
      responses = await collectStream(client.GetNodeFlows({ node: '', request: { filter: null, pendingChangedOnly: false, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' } }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }))
    } finally {
      client.close()
    }
    assert.deepEqual(responses.filter(r => r.error !== null && r.error !== undefined), [])
    for (const node of ['node-a', 'node-b']) {
      const flows = responses.filter(r => r.node === node).map(r => r.response?.flow).filter((f): f is WireFlow => f !== null && f !== undefined)
      assert.deepEqual(sortedEntries(totalsOf(flows)), sortedEntries(expectedFlowTotals(conversations, pods, new Set([node]))), `the flow logs of ${node}`)
    }
    // A single node.
    const one = createGrpcClient(protos.shadowflow.Nodes, aggregator.address, insecure)
    try {
      const only = await collectStream(one.GetNodeFlows({ node: 'node-b', request: { filter: null, pendingChangedOnly: true, follow: false, since: 0, number: 0, which: 'FLOW_LOGS' } }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }))
      assert.ok(only.length > 0 && only.every(r => r.node === 'node-b' && r.response?.flow !== undefined))
      // node-b holds postgres-0 → backup-agent (both local: newly denied at the source) and web-1 → postgres-0:6379 (newly allowed at the destination).
      assert.deepEqual(only.map(r => wireTotalsKey(r.response?.flow as WireFlow)).sort(), ['Dst frontend/web-1 -> database/postgres-0 tcp/6379', 'Src database/postgres-0 -> other/backup-agent tcp/8443'])
    } finally {
      one.close()
    }
  })
})
