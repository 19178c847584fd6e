// Fault tests of the running system, as real processes on 127.0.0.1: the aggregator SIGKILLed while agents
// stream to it (twice), an agent's SIGTERM with receipts outstanding, and an invalid policy edit on a running
// agent. The agents read named pipes (helpers/system-harness.ts CaptureFifo), so the test decides when traffic
// happens: phases of the shop capture (helpers/shop-traffic.ts), whose totals the test computes itself.
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import type { WireFlow } from '../../agent/src/grpc/wire-types.js'
import { listFlows, sortedEntries, totalsOf, waitForTotals } from './helpers/aggregator-queries.js'
import { ShopTraffic } from './helpers/shop-traffic.js'
import {
  CaptureFifo, collectStream, httpGet, metricValue, ProcessHarness, SHOP_DIR, startAgentProcess, startAggregatorProcess, until,
  type AgentProcess
} from './helpers/system-harness.js'

const harness = new ProcessHarness()
const dir = mkdtempSync(join(tmpdir(), 'shadowflow-system-faults-'))
const traffic = new ShopTraffic()
const fifos: CaptureFifo[] = []

after(async () => {
  for (const f of fifos) await f.close()
  await harness.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

async function openFifo (name: string): Promise<CaptureFifo> {
  const fifo = new CaptureFifo(join(dir, name))
  fifos.push(fifo)
  await fifo.open(traffic.header)
  return fifo
}

/** The agent's flow-log counter (flow logs handed to the exporter). */
async function flowLogsEmitted (agent: AgentProcess): Promise<number> {
  return metricValue((await httpGet(`http://${agent.debug}/metrics`)).body, 'shadowflow_agent_flow_logs_total') ?? 0
}

/** Ends an agent's capture, SIGTERMs it and expects exit 0. */
async function stopAgent (agent: AgentProcess, fifo: CaptureFifo): Promise<void> {
  await fifo.close()
  agent.proc.kill('SIGTERM')
  const { code } = await agent.proc.exited
  assert.equal(code, 0, agent.proc.tail())
}

describe('system faults', { timeout: 100_000 }, () => {
  test('aggregator SIGKILLed mid-stream and restarted on the same address, twice: the agents reconnect and resend; totals equal the capture\'s, nothing lost or double-counted', async () => {
    let aggregator = await startAggregatorProcess(harness)
    const port = Number(aggregator.address.split(':')[1])
    const nodes = ['node-a', 'node-b']
    const pipes = await Promise.all(nodes.map(async n => await openFifo(`kill-${n}.pcap`)))
    const agents: AgentProcess[] = []
    for (const [i, node] of nodes.entries()) {
      agents.push(await startAgentProcess(harness, { node, source: `pcap-file:${(pipes[i] as CaptureFifo).path}`, files: [SHOP_DIR], aggregator: aggregator.address }))
    }
    await Promise.all(pipes.map(async p => await p.write(traffic.phase(0))))
    await waitForTotals(aggregator.address, traffic.expected(1))
    const firstInstance = aggregator.proc.logs.find(l => l.msg === 'aggregator listening')?.instanceId

    for (const phase of [1, 2]) {
      // Killed while both Connect streams are open; the next phase happens while nothing listens.
      aggregator.proc.kill('SIGKILL')
      await aggregator.proc.exited
      await Promise.all(pipes.map(async p => await p.write(traffic.phase(phase))))
      await Promise.all(agents.map(async (a, i) => await until(`${a.proc.name} to emit phase ${phase}`, async () =>
        await flowLogsEmitted(a) === (phase + 1) * traffic.flowLogsPerPhase(nodes[i] as string) ? true : undefined)))
      aggregator = await startAggregatorProcess(harness, { port, name: `aggregator #${phase + 1}` })
      const flows = await waitForTotals(aggregator.address, traffic.expected(phase + 1), 30_000)
      // Converged, and stays there: no late resend adds anything.
      await new Promise(resolve => setTimeout(resolve, 1000))
      assert.deepEqual(sortedEntries(totalsOf(await listFlows(aggregator.address))), sortedEntries(totalsOf(flows)))
      // Each agent sent its whole buffer to the new instance exactly once: nothing left out, nothing twice.
      const client = createGrpcClient(loadProtos().shadowflow.Nodes, aggregator.address, grpc.credentials.createInsecure())
      try {
        const { nodes: info } = await callUnary(client, 'ListNodes', {}, { deadlineMs: 5000 })
        assert.deepEqual(info.map(n => [n.name, n.connected, n.updatesReceived, n.duplicatesDropped]).sort(),
          nodes.map(n => [n, true, (phase + 1) * traffic.flowLogsPerPhase(n), 0]))
      } finally {
        client.close()
      }
      for (const agent of agents) {
        await agent.proc.waitForLog('aggregator restarted: resending every buffered flow log', l => l.instance !== firstInstance && l.instance === aggregator.proc.logs.find(m => m.msg === 'aggregator listening')?.instanceId)
      }
    }
    const reconnects = await Promise.all(agents.map(async a => metricValue((await httpGet(`http://${a.debug}/metrics`)).body, 'shadowflow_agent_exporter_reconnects_total') ?? 0))
    assert.ok(reconnects.every(n => n >= 2), `reconnects ${reconnects.join(', ')}`)
    for (const [i, agent] of agents.entries()) await stopAgent(agent, pipes[i] as CaptureFifo)
  })

  test('agent SIGTERM with receipts outstanding: it waits for them, exits 0 within the flush deadline, and the aggregator holds everything it read', async () => {
    const aggregator = await startAggregatorProcess(harness, { name: 'aggregator (sigterm)' })
    const pipe = await openFifo('sigterm.pcap')
    const agent = await startAgentProcess(harness, { node: 'node-b', source: `pcap-file:${pipe.path}`, files: [SHOP_DIR], aggregator: aggregator.address, flushDeadlineSeconds: 8 })
    await pipe.write(traffic.phase(0))
    await waitForTotals(aggregator.address, traffic.expected(1, ['node-b']))
    // Frozen: the next phase's updates are written to the stream but not acknowledged.
    aggregator.proc.kill('SIGSTOP')
    try {
      await pipe.write(traffic.phase(1))
      await until('unacknowledged flow logs', async () => {
        const m = (await httpGet(`http://${agent.debug}/metrics`)).body
        return metricValue(m, 'shadowflow_agent_flow_logs_total') === 2 * traffic.flowLogsPerPhase('node-b') &&
          (metricValue(m, 'shadowflow_agent_exporter_unacknowledged_flow_logs') ?? 0) > 0 ? true : undefined
      })
      await pipe.close()
      const signalledAt = Date.now()
      agent.proc.kill('SIGTERM')
      await new Promise(resolve => setTimeout(resolve, 700))
      assert.ok(agent.proc.running, 'the agent waits for the outstanding receipts')
      aggregator.proc.kill('SIGCONT')
      const { code } = await agent.proc.exited
      const tookMs = Date.now() - signalledAt
      assert.equal(code, 0, agent.proc.tail())
      assert.ok(tookMs < 8000, `exited ${tookMs} ms after SIGTERM, within the 8 s flush deadline`)
      const stopped = await agent.proc.waitForLog('agent stopped')
      assert.deepEqual([stopped.acknowledged, stopped.lost, stopped.flowLogs], [true, 0, 2 * traffic.flowLogsPerPhase('node-b')])
    } finally {
      aggregator.proc.kill('SIGCONT')
    }
    await waitForTotals(aggregator.address, traffic.expected(2, ['node-b']), 5000)
  })

  test('an invalid policy edit keeps the last good set (explain, verdicts of new traffic), shows in /metrics and the log with file:line and field; a valid staged edit then changes the pending verdict the aggregator sees', async () => {
    const aggregator = await startAggregatorProcess(harness, { name: 'aggregator (reload)' })
    const clusterDir = join(dir, 'shop')
    cpSync(SHOP_DIR, clusterDir, { recursive: true, filter: src => !src.endsWith('.pcap') })
    const pipe = await openFifo('reload.pcap')
    const agent = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${pipe.path}`, files: [clusterDir], aggregator: aggregator.address })
    const debug = `http://${agent.debug}`
    const explain = async (): Promise<string> => (await httpGet(`${debug}/debug/explain?from=frontend/web-1&to=database/redis-0&protocol=TCP&port=6379`)).body
    const pendingOf = (body: string): [string, string] => { const e = JSON.parse(body) as { enforced: { action: string }, pending: { action: string } }; return [e.enforced.action, e.pending.action] }
    const before = await explain()
    assert.deepEqual(pendingOf(before), ['Deny', 'Allow'])
    await pipe.write(traffic.phase(0))
    const phase0 = await waitForTotals(aggregator.address, traffic.expected(1, ['node-a']))

    // An enforced policy's named port becomes 70000: invalid.
    const policiesPath = join(clusterDir, 'policies.yaml')
    const lines = readFileSync(policiesPath, 'utf8').split('\n')
    const badLine = lines.findIndex(l => l === '          - postgres') + 1
    assert.ok(badLine > 0)
    lines[badLine - 1] = '          - 70000'
    writeFileSync(policiesPath, lines.join('\n'))
    const rejected = await agent.proc.waitForLog('policy file rejected')
    assert.match(String(rejected.error), new RegExp(`policies\\.yaml:${badLine}: spec\\.ingress\\[0\\]\\.destination\\.ports\\[0\\]: `))
    await until('the rejection in /metrics', async () => {
      const m = (await httpGet(`${debug}/metrics`)).body
      return metricValue(m, 'shadowflow_agent_policy_reloads_total{result="error"}') === 1 && metricValue(m, 'shadowflow_agent_policy_generation') === 1 ? true : undefined
    })
    assert.equal(await explain(), before, 'the last good set still decides')
    // New traffic is judged by the last good set: the same keys (same verdicts and traces), twice the totals.
    await pipe.write(traffic.phase(1))
    const phase1 = await waitForTotals(aggregator.address, traffic.expected(2, ['node-a']))
    assert.deepEqual(phase1.map(f => JSON.stringify(f.Key)).sort(), phase0.map(f => JSON.stringify(f.Key)).sort())

    // A valid edit: the staged allow-tcp-6379 now denies. The pending verdict of frontend → redis-0 flips.
    writeFileSync(policiesPath, readFileSync(join(SHOP_DIR, 'policies.yaml')))
    const stagedPath = join(clusterDir, 'staged.yaml')
    const staged = readFileSync(stagedPath, 'utf8')
    const at = staged.indexOf('    - action: Allow', staged.indexOf('name: default.allow-tcp-6379'))
    writeFileSync(stagedPath, staged.slice(0, at) + '    - action: Deny' + staged.slice(at + '    - action: Allow'.length))
    await until('generation 2', async () => metricValue((await httpGet(`${debug}/metrics`)).body, 'shadowflow_agent_policy_generation') === 2 ? true : undefined)
    assert.deepEqual(pendingOf(await explain()), ['Deny', 'Deny'])
    await pipe.write(traffic.phase(2))
    const stagedHit = (f: WireFlow): string | undefined => f.Key?.policies?.pendingPolicies.find(h => h.name === 'default.allow-tcp-6379')?.action
    const toRedis = await until('the new pending verdict in the aggregator', async () => {
      const flows = (await listFlows(aggregator.address)).filter(f => f.Key?.reporter === 'Dst' && f.Key.sourceName === 'web-1' && f.Key.destName === 'redis-0' && f.Key.destPort === 6379)
      return flows.length === 2 ? flows : undefined
    })
    const perPhase = traffic.expected(1, ['node-a']).get('Dst frontend/web-1 -> database/redis-0 tcp/6379')?.packetsIn ?? 0
    assert.ok(perPhase > 0)
    assert.deepEqual(toRedis.map(f => [stagedHit(f), f.packetsIn]).sort(), [['Allow', 2 * perPhase], ['Deny', perPhase]])
    await stopAgent(agent, pipe)
  })

  test('NodeFlows GetFlows with follow delivers flow logs produced after the call began', async () => {
    const pipe = await openFifo('follow.pcap')
    const agent = await startAgentProcess(harness, { node: 'node-a', source: `pcap-file:${pipe.path}`, files: [SHOP_DIR] })
    const protos = loadProtos()
    const client = createGrpcClient(protos.shadowflow.NodeFlows, agent.query, grpc.credentials.createInsecure())
    try {
      const call = client.GetFlows({ filter: null, pendingChangedOnly: false, follow: true, since: 0, number: 0, which: 'FLOW_LOGS' })
      const want = traffic.flowLogsPerPhase('node-a')
      const received = collectStream(call, items => items.length >= want)
      // The call is open and the ring is empty: whatever arrives was produced after it began.
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(await flowLogsEmitted(agent), 0)
      await pipe.write(traffic.phase(0))
      const responses = await received
      const flows = responses.map(r => r.flow).filter((f): f is WireFlow => f !== null && f !== undefined)
      assert.deepEqual(sortedEntries(totalsOf(flows)), sortedEntries(traffic.expected(1, ['node-a'])))
    } finally {
      client.close()
    }
    await stopAgent(agent, pipe)
  })
})
