// Flow-log aggregation: intervals, cumulative-counter deltas, both reporters, naming (generateName aggregation,
// network sets, pub/pvt, services), pending-changed, bounds. A real PolicyEngine over a small cluster in YAML.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FlowEndpointResolver, isPrivateAddress } from '../../agent/src/endpoints/flow-endpoint-resolver.js'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { isPendingChanged } from '../../agent/src/flows/flow-filter.js'
import { FlowKeyIds, FlowLogAggregator } from '../../agent/src/flows/flow-log-aggregator.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'
import { FLOW_STATE, type FlowRecord } from '../../agent/src/flows/flow-record.js'
import { parseIp } from '../../agent/src/policy/ip-address.js'
import { normalizePolicies } from '../../agent/src/policy/normalized-policy.js'
import { parseDocuments } from '../../agent/src/policy/parse-documents.js'
import { PolicyEngine } from '../../agent/src/policy/policy-engine.js'
import type { PolicyHit } from '../../agent/src/policy/policy-hit.js'
import type { LoadedResource } from '../../agent/src/policy/resources.js'
import { validateResource } from '../../agent/src/policy/validate-resource.js'

export const CLUSTER_YAML = `
apiVersion: v1
kind: Pod
metadata: { name: web-abc12, generateName: web-, namespace: shop, labels: { app: web, pod-template-hash: abc } }
spec: { nodeName: node-a, containers: [{ name: web }] }
status: { podIP: 10.0.1.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: web-def34, generateName: web-, namespace: shop, labels: { app: web, pod-template-hash: def } }
spec: { nodeName: node-a, containers: [{ name: web }] }
status: { podIP: 10.0.1.2 }
---
apiVersion: v1
kind: Pod
metadata: { name: redis-0, namespace: db, labels: { app: redis } }
spec: { nodeName: node-a, containers: [{ name: redis }] }
status: { podIP: 10.0.2.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: redis-1, namespace: db, labels: { app: redis } }
spec: { nodeName: node-b, containers: [{ name: redis }] }
status: { podIP: 10.0.2.2 }
---
apiVersion: v1
kind: Service
metadata: { name: redis, namespace: db }
spec: { clusterIP: 10.96.0.10, selector: { app: redis }, ports: [{ name: resp, port: 6379, protocol: TCP }] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: corp, labels: { zone: corp } }
spec: { nets: [192.168.0.0/16] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: corp-lab }
spec: { nets: [192.168.10.0/24] }
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: node-a-eth0 }
spec: { node: node-a, interfaceName: eth0, expectedIPs: [172.18.0.2], profiles: [projectcalico-default-allow] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: allow-web, namespace: db }
spec:
  order: 100
  selector: app == 'redis'
  types: [Ingress]
  ingress: [{ action: Allow, protocol: TCP, source: { selector: app == 'web', namespaceSelector: all() }, destination: { ports: [6379] } }]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: lockdown, namespace: db }
spec:
  order: 10
  selector: app == 'redis'
  types: [Ingress]
  ingress: [{ action: Deny, protocol: TCP, destination: { ports: [6379] } }]
`

export function loadYaml (text: string): LoadedResource[] {
  const parsed = parseDocuments(text, 'cluster.yaml')
  assert.deepEqual(parsed.errors.map(e => e.describe()), [])
  return parsed.documents.map(d => {
    const r = validateResource(d)
    if (!r.ok) assert.fail(r.errors.map(e => e.describe()).join('\n'))
    return { resource: r.resource, origin: { file: 'cluster.yaml', line: d.line } }
  })
}

interface Setup { aggregator: FlowLogAggregator, engine: PolicyEngine, resolver: FlowEndpointResolver, directory: InventoryDirectory }

function setup (options: { nodeName?: string, allLocal?: boolean, intervalSeconds?: number, maxTrackedFlows?: number, maxOpenFlowLogs?: number, yaml?: string } = {}): Setup {
  const resources = loadYaml(options.yaml ?? CLUSTER_YAML)
  const directory = new InventoryDirectory(resources)
  const engine = new PolicyEngine(directory)
  engine.setPolicies(normalizePolicies(resources))
  const resolver = new FlowEndpointResolver(directory, { nodeName: options.nodeName ?? 'node-a', allLocal: options.allLocal ?? false })
  const aggregator = new FlowLogAggregator(engine, resolver, {
    ...(options.intervalSeconds === undefined ? {} : { intervalSeconds: options.intervalSeconds }),
    ...(options.maxTrackedFlows === undefined ? {} : { maxTrackedFlows: options.maxTrackedFlows }),
    ...(options.maxOpenFlowLogs === undefined ? {} : { maxOpenFlowLogs: options.maxOpenFlowLogs })
  })
  return { aggregator, engine, resolver, directory }
}

const T0 = 1_700_000_010_000 // ms; inside the 15 s interval [1700000010, 1700000025)
const T0_INTERVAL = 1_700_000_010

let nextFlowId = 1
function record (fields: Partial<FlowRecord> & { srcAddr: string, dstAddr: string }): FlowRecord {
  return {
    kind: 'end',
    endReason: 'tcpClosed',
    family: fields.srcAddr.includes(':') ? 6 : 4,
    protocol: 6,
    srcPort: 40000,
    dstPort: 6379,
    ifindex: 0,
    nameId: 0,
    packetsFwd: 5,
    bytesFwd: 500,
    packetsRev: 3,
    bytesRev: 300,
    firstSeenMs: T0,
    lastSeenMs: T0 + 10,
    flowId: nextFlowId++,
    tcpFlagsFwd: 0,
    tcpFlagsRev: 0,
    state: FLOW_STATE.TCP_SYN | FLOW_STATE.TCP_SYNACK | FLOW_STATE.TCP_COMPLETED,
    icmpType: 0,
    icmpCode: 0,
    fragments: 0,
    slot: 0,
    ...fields
  }
}

function byReporter (logs: readonly FlowLog[], reporter: 'Src' | 'Dst'): FlowLog[] {
  return logs.filter(l => l.key.reporter === reporter)
}

describe('flow-log aggregator', () => {
  test('a flow between two local pods is reported from both ends with the trace of each end', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1' }))
    const logs = aggregator.flushAll()
    assert.equal(logs.length, 2)
    const [src] = byReporter(logs, 'Src')
    const [dst] = byReporter(logs, 'Dst')
    assert.ok(src !== undefined && dst !== undefined)
    for (const log of [src, dst]) {
      assert.equal(log.key.sourceName, 'web-*')
      assert.equal(log.key.sourceNamespace, 'shop')
      assert.equal(log.key.sourceType, 'WorkloadEndpoint')
      assert.equal(log.key.destName, 'redis-0')
      assert.equal(log.key.destNamespace, 'db')
      assert.equal(log.key.destPort, 6379)
      assert.equal(log.key.proto, 'tcp')
      assert.equal(log.startTime, T0_INTERVAL)
      assert.equal(log.endTime, T0_INTERVAL + 15)
      assert.equal(log.connectionsStarted, 1)
      assert.equal(log.connectionsCompleted, 1)
      assert.equal(log.connectionsLive, 0)
    }
    // In/out are seen from the reporting end.
    assert.deepEqual([src.packetsOut, src.bytesOut, src.packetsIn, src.bytesIn], [5, 500, 3, 300])
    assert.deepEqual([dst.packetsIn, dst.bytesIn, dst.packetsOut, dst.bytesOut], [5, 500, 3, 300])
    // Source end: no egress policy, the namespace profile allows; unchanged by the staged ingress policy.
    assert.deepEqual(src.key.policies.enforced.map(h => `${h.kind}:${h.name}:${h.action}`), ['Profile:kns.shop:Allow'])
    assert.equal(src.key.action, 'Allow')
    assert.equal(isPendingChanged(src.key), false)
    // Destination end: allowed by allow-web, denied by the staged lockdown in the pending pipeline.
    assert.deepEqual(dst.key.policies.enforced.map(h => `${h.kind}:${h.name}:${h.action}`), ['CalicoNetworkPolicy:allow-web:Allow'])
    assert.deepEqual(dst.key.policies.pending.map(h => `${h.kind}:${h.name}:${h.action}`), ['StagedNetworkPolicy:lockdown:Deny'])
    assert.equal(dst.key.action, 'Allow')
    assert.equal(isPendingChanged(dst.key), true)
  })

  test('a flow with one local end is reported only by that end; no local end is counted and skipped', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' })) // redis-1 is on node-b
    aggregator.add(record({ srcAddr: '10.0.2.2', dstAddr: '10.0.1.1', dstPort: 8080 }))
    aggregator.add(record({ srcAddr: '8.8.8.8', dstAddr: '10.0.2.2' }))
    const logs = aggregator.flushAll()
    assert.deepEqual(logs.map(l => `${l.key.reporter}:${l.key.sourceName}->${l.key.destName}`).sort(), ['Dst:redis-1->web-*', 'Src:web-*->redis-1'])
    assert.equal(aggregator.stats().drops.notLocal, 1)
  })

  test('in replay (allLocal) every endpoint reports, so both ends appear for pods of any node', () => {
    const { aggregator } = setup({ allLocal: true, nodeName: 'elsewhere' })
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    assert.deepEqual(aggregator.flushAll().map(l => l.key.reporter).sort(), ['Dst', 'Src'])
  })

  test('cumulative counters fold as deltas, split over the intervals they were seen in; live connections per interval', () => {
    const { aggregator } = setup()
    const flowId = 9001
    const base = { srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', flowId }
    aggregator.add(record({ ...base, kind: 'start', endReason: 'none', packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, lastSeenMs: T0, state: FLOW_STATE.TCP_SYN }))
    aggregator.add(record({ ...base, kind: 'update', endReason: 'none', packetsFwd: 4, bytesFwd: 400, packetsRev: 2, bytesRev: 200, lastSeenMs: T0 + 5000, state: FLOW_STATE.TCP_SYN | FLOW_STATE.TCP_SYNACK }))
    aggregator.add(record({ ...base, kind: 'end', packetsFwd: 6, bytesFwd: 700, packetsRev: 5, bytesRev: 650, lastSeenMs: T0 + 20_000 }))
    const logs = aggregator.flushAll()
    assert.equal(logs.length, 2)
    const [first, second] = logs as [FlowLog, FlowLog]
    assert.equal(first.startTime, T0_INTERVAL)
    assert.equal(second.startTime, T0_INTERVAL + 15)
    assert.deepEqual([first.packetsOut, first.bytesOut, first.packetsIn, first.bytesIn], [4, 400, 2, 200])
    assert.deepEqual([second.packetsOut, second.bytesOut, second.packetsIn, second.bytesIn], [2, 300, 3, 450])
    assert.deepEqual([first.connectionsStarted, first.connectionsCompleted, first.connectionsLive], [1, 0, 1])
    assert.deepEqual([second.connectionsStarted, second.connectionsCompleted, second.connectionsLive], [0, 1, 0])
    assert.equal(aggregator.stats().trackedFlows, 0, 'an ended flow forgets its last-seen counters')
  })

  test('a key open in two intervals at once keeps one flow log per interval, also across a renumbering of the keys', () => {
    // Both web pods aggregate to one name: flows from either to redis-0 share their keys. Records alternate between
    // two open intervals (a batch straddling an interval boundary), and the keys are renumbered (a policy reload)
    // while both are open.
    const { aggregator, engine, resolver } = setup()
    const at = (srcAddr: string, packets: number, interval: number): FlowRecord =>
      record({ kind: 'update', srcAddr, dstAddr: '10.0.2.1', packetsFwd: packets, firstSeenMs: T0 + interval * 15_000, lastSeenMs: T0 + interval * 15_000 + 10 })
    aggregator.add(at('10.0.1.1', 1, 1))
    aggregator.add(at('10.0.1.2', 2, 0))
    aggregator.add(at('10.0.1.1', 8, 0))
    aggregator.add(at('10.0.1.2', 4, 1))
    aggregator.setPipeline(engine, resolver)
    aggregator.add(at('10.0.1.1', 32, 0))
    aggregator.add(at('10.0.1.2', 16, 1))
    const logs = aggregator.flushAll()
    for (const reporter of ['Src', 'Dst'] as const) {
      const mine = logs.filter(l => l.key.reporter === reporter).sort((a, b) => a.startTime - b.startTime)
      assert.deepEqual(mine.map(l => [l.startTime, l.key.sourceName, reporter === 'Src' ? l.packetsOut : l.packetsIn]),
        [[T0_INTERVAL, 'web-*', 2 + 8 + 32], [T0_INTERVAL + 15, 'web-*', 1 + 4 + 16]], `${reporter}: one log per interval`)
      // The pods' labels differ in pod-template-hash: each log keeps the labels both pods share.
      for (const l of mine) {
        assert.ok(l.sourceLabels.includes('app=web'), l.sourceLabels.join())
        assert.ok(!l.sourceLabels.some(label => label.startsWith('pod-template-hash=')), l.sourceLabels.join())
      }
    }
  })

  test('closeBefore emits only finished intervals; a record for an emitted interval goes to the oldest open one', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', lastSeenMs: T0 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', lastSeenMs: T0 + 15_000 }))
    const closed = aggregator.closeBefore(T0 + 15_000)
    assert.deepEqual(closed.map(l => l.startTime), [T0_INTERVAL])
    // A straggler of the first interval must not produce a second flow log with the same key and start time.
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', lastSeenMs: T0 + 1 }))
    const rest = aggregator.flushAll()
    assert.deepEqual(rest.map(l => [l.startTime, l.connectionsStarted]), [[T0_INTERVAL + 15, 2]])
    assert.equal(aggregator.stats().late, 1)
  })

  test('intervals are configurable in multiples of 15 s', () => {
    const { aggregator } = setup({ intervalSeconds: 60 })
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', lastSeenMs: 1_700_000_050_000 }))
    const [log] = aggregator.flushAll()
    assert.equal(log?.startTime, 1_700_000_040)
    assert.equal(log?.endTime, 1_700_000_100)
    assert.throws(() => setup({ intervalSeconds: 20 }), /multiple of 15/)
  })

  test('pods of one generateName aggregate under `name-*` and keep only the labels they share', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    aggregator.add(record({ srcAddr: '10.0.1.2', dstAddr: '10.0.2.2' }))
    const logs = aggregator.flushAll()
    assert.equal(logs.length, 1)
    const [log] = logs as [FlowLog]
    assert.equal(log.key.sourceName, 'web-*')
    assert.equal(log.packetsOut, 10)
    assert.equal(log.connectionsStarted, 2)
    assert.ok(log.sourceLabels.includes('app=web'))
    assert.ok(!log.sourceLabels.some(l => l.startsWith('pod-template-hash=')), 'labels that differ between the pods are dropped')
  })

  test('remote ends are named by network set (longest prefix), else pub/pvt; cluster IPs fill the service fields', () => {
    const { aggregator } = setup()
    const cases: Array<[string, string, string]> = [
      ['192.168.10.5', 'corp-lab', 'NetworkSet'],
      ['192.168.20.1', 'corp', 'NetworkSet'],
      ['8.8.8.8', 'pub', 'Network'],
      ['10.99.0.1', 'pvt', 'Network'],
      ['172.18.0.2', 'node-a-eth0', 'HostEndpoint']
    ]
    for (const [ip] of cases) aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: ip, dstPort: 443 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.96.0.10', dstPort: 6379 }))
    const logs = byReporter(aggregator.flushAll(), 'Src')
    for (const [ip, name, type] of cases) {
      const log = logs.find(l => l.key.destName === name)
      assert.ok(log !== undefined, `${ip} should be named ${name}`)
      assert.equal(log.key.destType, type)
      assert.equal(log.key.destServiceName, '')
    }
    const viaService = logs.find(l => l.key.destServiceName === 'redis')
    assert.ok(viaService !== undefined)
    assert.deepEqual([viaService.key.destName, viaService.key.destServiceNamespace, viaService.key.destServicePortName, viaService.key.destServicePort], ['pvt', 'db', 'resp', 6379])
  })

  test('private ranges: RFC 1918, shared, loopback, link-local, ULA', () => {
    for (const ip of ['10.1.2.3', '172.31.255.255', '192.168.1.1', '100.64.0.1', '127.0.0.1', '169.254.1.1', 'fd00::1', 'fe80::1', '::1']) {
      assert.equal(isPrivateAddress(parseIp(ip)!), true, ip)
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '11.0.0.1', '2606:4700::1111']) assert.equal(isPrivateAddress(parseIp(ip)!), false, ip)
  })

  test('a flow log counts each of its flows live once, and a flow that ended uncounted', () => {
    // Three flows of one key (web-* → redis-1:6379, reported by the source on node-a) in one interval, the slots
    // of a flow table as the tap names them: A stays open, B ends, C is re-evaluated mid-interval (a policy set
    // applied) and stays open — its second first-record in the same log must not count it twice.
    const { aggregator, engine, resolver } = setup()
    const base = { dstAddr: '10.0.2.2', kind: 'start' as const, endReason: 'none' as const, state: FLOW_STATE.TCP_SYN, lastSeenMs: T0 }
    aggregator.add(record({ ...base, srcAddr: '10.0.1.1', flowId: 101, slot: 1 }))
    aggregator.add(record({ ...base, srcAddr: '10.0.1.2', flowId: 102, slot: 2 }))
    aggregator.add(record({ ...base, srcAddr: '10.0.1.1', srcPort: 40001, flowId: 103, slot: 3 }))
    aggregator.add(record({ ...base, srcAddr: '10.0.1.1', flowId: 101, slot: 1, kind: 'update', packetsFwd: 7, lastSeenMs: T0 + 1000 }))
    aggregator.add(record({ ...base, srcAddr: '10.0.1.2', flowId: 102, slot: 2, kind: 'end', endReason: 'tcpClosed', lastSeenMs: T0 + 2000 }))
    aggregator.setPipeline(engine, resolver)
    aggregator.add(record({ ...base, srcAddr: '10.0.1.1', srcPort: 40001, flowId: 103, slot: 3, kind: 'update', packetsFwd: 7, lastSeenMs: T0 + 3000 }))
    // A ends in the next interval: counted live in the first (open at its close), not in the second.
    aggregator.add(record({ ...base, srcAddr: '10.0.1.1', flowId: 101, slot: 1, kind: 'end', endReason: 'tcpClosed', packetsFwd: 9, lastSeenMs: T0 + 20_000 }))
    const logs = aggregator.flushAll()
    assert.equal(logs.length, 2)
    const [first, second] = logs as [FlowLog, FlowLog]
    assert.equal(first.key.sourceName, 'web-*')
    assert.deepEqual([first.connectionsStarted, first.connectionsCompleted, first.connectionsLive], [3, 1, 2])
    assert.deepEqual([second.startTime - first.startTime, second.connectionsStarted, second.connectionsCompleted, second.connectionsLive], [15, 0, 1, 0])
  })

  test('host endpoints of this node report; ICMP and UDP keys; non-TCP connections start with the first record', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '172.18.0.2', dstAddr: '8.8.8.8', protocol: 17, dstPort: 53, state: 0 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '8.8.4.4', protocol: 1, srcPort: 7, dstPort: 7, icmpType: 8, state: 0 }))
    const logs = aggregator.flushAll()
    const udp = logs.find(l => l.key.proto === 'udp')
    const icmp = logs.find(l => l.key.proto === 'icmp')
    assert.equal(udp?.key.sourceType, 'HostEndpoint')
    assert.equal(udp?.key.destPort, 53)
    assert.equal(udp?.connectionsStarted, 1)
    assert.equal(icmp?.key.destPort, 0, 'ICMP has no port (the echo id is not one)')
  })

  test('a TCP flow first seen mid-stream starts no connection', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', state: FLOW_STATE.MIDSTREAM, kind: 'update', endReason: 'none' }))
    const [log] = aggregator.flushAll()
    assert.deepEqual([log?.connectionsStarted, log?.connectionsCompleted, log?.connectionsLive], [0, 0, 1])
  })

  test('last-seen counters are bounded; an eviction is counted', () => {
    const { aggregator } = setup({ maxTrackedFlows: 2 })
    for (let i = 0; i < 3; i++) aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', kind: 'update', endReason: 'none', srcPort: 40000 + i }))
    const stats = aggregator.stats()
    assert.equal(stats.trackedFlows, 2)
    assert.equal(stats.drops.trackedFlowEvicted, 1)
  })

  test('eviction spares a flow updated since the scan last passed it (second chance)', () => {
    const { aggregator } = setup({ maxTrackedFlows: 2 })
    const open = (flowId: number, packetsFwd: number): FlowRecord => record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', kind: 'update', endReason: 'none', flowId, packetsFwd, bytesFwd: 0, packetsRev: 0, bytesRev: 0 })
    aggregator.add(open(9001, 1))
    aggregator.add(open(9002, 1))
    aggregator.add(open(9001, 2)) // 9001 touched: 9002 is the one to go
    aggregator.add(open(9003, 1))
    assert.equal(aggregator.stats().drops.trackedFlowEvicted, 1)
    aggregator.add(open(9001, 3)) // still tracked: only its delta (1) counts
    aggregator.flushAll()
    const total = (logs: readonly FlowLog[]): number => logs.reduce((n, l) => n + l.packetsOut, 0)
    aggregator.add(open(9002, 5)) // forgotten: counted whole
    assert.equal(total(byReporter(aggregator.flushAll(), 'Src')), 5)
  })

  test('flows of the same endpoints, port and verdict share one flow log per interval; each keeps its own deltas', () => {
    const { aggregator } = setup()
    for (let i = 0; i < 5; i++) aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', srcPort: 41000 + i, packetsFwd: 2 + i }))
    aggregator.add(record({ srcAddr: '10.0.1.2', dstAddr: '10.0.2.1', srcPort: 42000, packetsFwd: 100 }))
    const src = byReporter(aggregator.flushAll(), 'Src')
    // web-abc12 and web-def34 aggregate to web-*: one key, one log, every flow's packets.
    assert.equal(src.length, 1)
    assert.equal(src[0]?.packetsOut, 2 + 3 + 4 + 5 + 6 + 100)
    assert.equal(src[0]?.connectionsStarted, 6)
    assert.ok(src[0]?.sourceLabels.includes('app=web'))
    assert.ok(!src[0]?.sourceLabels.some(l => l.startsWith('pod-template-hash=')), 'only the labels both pods share')
    assert.equal(aggregator.stats().evaluations, 6)
  })

  test('key numbers are started afresh once closed intervals left many behind, without splitting an open log', () => {
    const { aggregator } = setup({ allLocal: true })
    const add = (dstPort: number, lastSeenMs: number): void => {
      aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', dstPort, kind: 'update', endReason: 'none', lastSeenMs, packetsFwd: 1, bytesFwd: 1, packetsRev: 0, bytesRev: 0 }))
    }
    // Interval A: 60,000 ports x 2 reporters = 120,000 keys. Interval B: one key, open when A closes.
    for (let i = 0; i < 60_000; i++) add(1024 + i, T0)
    const b = T0 + 15_000
    add(5000, b)
    const before = aggregator.stats().keyNumberResets
    assert.equal(aggregator.closeBefore(b).length, 120_000)
    assert.equal(aggregator.stats().keyNumberResets, before + 1, 'closing A left 120,000 dead keys: the numbering starts afresh')
    // The same key again in B after the reset: it must fold into the log already open, not open a second one.
    add(5000, b)
    add(5000, b)
    const src = aggregator.flushAll().filter(l => l.key.destPort === 5000 && l.key.reporter === 'Src')
    assert.equal(src.length, 1, 'one log per key and interval')
    assert.equal(src[0]?.packetsOut, 3)
  })

  test('after the numbering starts afresh, a known flow shape finds the open log of its key under the new number', () => {
    const { aggregator } = setup({ allLocal: true })
    const add = (srcAddr: string, dstPort: number, lastSeenMs: number): void => {
      aggregator.add(record({ srcAddr, dstAddr: '10.0.2.1', dstPort, kind: 'update', endReason: 'none', lastSeenMs, packetsFwd: 1, bytesFwd: 1, packetsRev: 0, bytesRev: 0 }))
    }
    // web-abc12 (10.0.1.1) and web-def34 (10.0.1.2) both aggregate to web-*: their two shapes share every key.
    for (let i = 0; i < 60_000; i++) add('10.0.1.1', 1024 + i, T0)
    add('10.0.1.2', 6379, T0)
    const b = T0 + 15_000
    add('10.0.1.1', 6379, b) // opens B's log of the key under the old number
    const before = aggregator.stats().keyNumberResets
    aggregator.closeBefore(b)
    assert.equal(aggregator.stats().keyNumberResets, before + 1)
    add('10.0.1.2', 6379, b) // the second shape's report is of the old numbering and has not folded in B yet
    const logs = aggregator.flushAll().filter(l => l.key.destPort === 6379 && l.key.reporter === 'Src')
    assert.equal(logs.length, 1, 'one log per key and interval')
    assert.equal(logs[0]?.packetsOut, 2)
  })

  test('open flow logs are bounded; what does not fit is counted', () => {
    const { aggregator } = setup({ maxOpenFlowLogs: 1 })
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '8.8.8.8' }))
    assert.equal(aggregator.flushAll().length, 1)
    assert.equal(aggregator.stats().drops.flowLogOverflow, 1)
  })

  test('closing intervals hands a sink every flow log in chunks, oldest interval first, and returns none', () => {
    // 5,000 keys (one per destination port) in one interval and one in the next: more than one chunk.
    const { aggregator } = setup()
    for (let port = 1; port <= 5000; port++) aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', dstPort: port }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2', dstPort: 6379, lastSeenMs: T0 + 15_000 }))
    const chunks: Array<readonly FlowLog[]> = []
    assert.deepEqual(aggregator.flushAll(logs => { chunks.push(logs) }), [])
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`)
    const logs = chunks.flat()
    assert.equal(logs.length, 5001)
    assert.equal(new Set(logs.slice(0, 5000).map(l => l.key.destPort)).size, 5000)
    assert.deepEqual(logs.map(l => l.startTime).filter((t, i, all) => t !== all[i - 1]), [T0_INTERVAL, T0_INTERVAL + 15])
    assert.equal(aggregator.stats().flowLogsEmitted, 5001)
  })

  test('a new pipeline (policy reload) re-evaluates flows on their next record', () => {
    const s = setup()
    const flowId = 777
    s.aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', flowId, kind: 'update', endReason: 'none' }))
    const withoutPolicies = new PolicyEngine(s.directory)
    s.aggregator.setPipeline(withoutPolicies, s.resolver)
    s.aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', flowId, packetsFwd: 9 }))
    const dst = byReporter(s.aggregator.flushAll(), 'Dst')
    assert.deepEqual(dst.map(l => l.key.policies.enforced[0]?.name).sort(), ['allow-web', 'kns.db'])
    assert.equal(dst.reduce((n, l) => n + l.packetsIn, 0), 9, 'deltas continue across the reload')
    assert.equal(s.aggregator.stats().evaluations, 2)
  })

  test('recent raw flows carry both verdicts and latest counters', () => {
    const { aggregator } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1' }))
    const raw = aggregator.recent?.since(0).map(e => e.item) ?? []
    assert.equal(raw.length, 1)
    assert.equal(raw[0]?.enforcedAction, 'Allow')
    assert.equal(raw[0]?.pendingAction, 'Deny')
    assert.equal(raw[0]?.endReason, 'tcpClosed')
    assert.equal(raw[0]?.packetsForward, 5)
  })

  test('a new flow between the same addresses, protocol and port takes the earlier flow\'s verdicts without an evaluation', () => {
    const { engine, resolver } = setup()
    let evaluated = 0
    const counting = { evaluate: (f: Parameters<PolicyEngine['evaluate']>[0]) => { evaluated++; return engine.evaluate(f) }, readsSourcePorts: false }
    const aggregator = new FlowLogAggregator(counting, resolver)
    for (let i = 0; i < 4; i++) aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', srcPort: 41000 + i }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', dstPort: 6380 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', protocol: 17 }))
    aggregator.add(record({ srcAddr: '10.0.1.2', dstAddr: '10.0.2.1' }))
    assert.equal(evaluated, 4, 'one evaluation per (addresses, protocol, port); other source ports reuse it')
    assert.equal(aggregator.stats().evaluations, 7)
    assert.equal(aggregator.stats().shapeCacheHits, 3)
  })

  test('verdicts that depend on the source port or the ICMP type are not shared across them', () => {
    const yaml = `${CLUSTER_YAML}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: from-port-40000 }
spec:
  order: 1
  selector: app == 'redis'
  types: [Ingress]
  ingress:
    - { action: Allow, protocol: TCP, source: { ports: [40000] } }
    - { action: Allow, protocol: ICMP, icmp: { type: 8 } }
    - { action: Deny }
`
    const { aggregator, engine } = setup({ yaml, allLocal: true })
    assert.equal(engine.readsSourcePorts, true)
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', srcPort: 40000 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', srcPort: 40001 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', protocol: 1, srcPort: 0, dstPort: 0, icmpType: 8, state: 0 }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', protocol: 1, srcPort: 0, dstPort: 0, icmpType: 13, state: 0 }))
    const dst = byReporter(aggregator.flushAll(), 'Dst')
    const tcp = dst.filter(l => l.key.proto === 'tcp')
    assert.deepEqual(tcp.map(l => l.key.action).sort(), ['Allow', 'Deny'], 'source port 40000 allowed, 40001 denied')
    const icmp = dst.filter(l => l.key.proto === 'icmp')
    assert.deepEqual(icmp.map(l => l.key.action).sort(), ['Allow', 'Deny'], 'ICMP type 8 allowed, 13 denied')
    assert.equal(aggregator.stats().shapeCacheHits, 0)
  })

  test('flow shapes stay with their ends when the resolver starts its numbering again', () => {
    const resources = loadYaml(CLUSTER_YAML)
    const directory = new InventoryDirectory(resources)
    const engine = new PolicyEngine(directory)
    engine.setPolicies(normalizePolicies(resources))
    // Room for two addresses: the third empties the cache and restarts FlowEnd.index at 0.
    const resolver = new FlowEndpointResolver(directory, { nodeName: 'node-a', allLocal: true, cacheSize: 2 })
    const aggregator = new FlowLogAggregator(engine, resolver)
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1' }))
    aggregator.add(record({ srcAddr: '10.0.2.2', dstAddr: '10.0.1.2' }))
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', srcPort: 40001 }))
    assert.ok(resolver.cacheResets >= 1)
    const src = byReporter(aggregator.flushAll(), 'Src')
    assert.deepEqual(src.map(l => `${l.key.sourceName}>${l.key.destName}:${l.packetsOut}`).sort(), ['redis-1>web-*:5', 'web-*>redis-0:10'])
  })

  test('a flow with a remote peer is evaluated at its local end; its raw flow still shows both ends\' verdicts', () => {
    const { engine, resolver } = setup()
    const asked: string[] = []
    const recording = { evaluate: (f: Parameters<PolicyEngine['evaluate']>[0], ends?: 'src' | 'dst' | 'both') => { asked.push(ends ?? 'both'); return engine.evaluate(f, ends) }, readsSourcePorts: false }
    const aggregator = new FlowLogAggregator(recording, resolver)
    // web-abc12 (node-a, local) → redis-1 (node-b): only the source's egress is needed for the flow log.
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    assert.deepEqual(asked, ['src'])
    assert.deepEqual(aggregator.flushAll().map(l => l.key.reporter), ['Src'])
    const raw = aggregator.recent?.since(0).map(e => e.item) ?? []
    assert.equal(raw[0]?.pendingAction, 'Deny', 'the staged lockdown at redis-1\'s ingress, evaluated when the raw flow is read')
    assert.deepEqual(raw[0]?.destPolicies.pending.map(h => h.name), ['lockdown'])
    assert.deepEqual(asked, ['src', 'both'])
  })

  test('raw flows keep the verdicts of the policy set they were seen under across a reload', () => {
    const { aggregator, engine, resolver } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    // The order FlowPipeline.apply follows: complete what the ring holds, then change the engine's policies.
    aggregator.beforePipelineChange()
    engine.setPolicies([])
    aggregator.setPipeline(engine, resolver)
    const raw = aggregator.recent?.since(0).map(e => e.item) ?? []
    assert.equal(raw[0]?.pendingAction, 'Deny', 'seen while the staged lockdown was loaded')
  })

  test('a new evaluator object: raw flows seen before take their peer\'s verdict from the old one', () => {
    const { aggregator, directory, resolver } = setup()
    aggregator.add(record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.2' }))
    aggregator.setPipeline(new PolicyEngine(directory), resolver)
    const raw = aggregator.recent?.since(0).map(e => e.item) ?? []
    assert.equal(raw[0]?.pendingAction, 'Deny', 'seen while the staged lockdown was loaded')
  })

  test('flows with a flow-table slot are tracked by it: deltas per flow, a slot reused after an end, a lost end counted', () => {
    const { aggregator } = setup({ maxTrackedFlows: 4 })
    const open = (flowId: number, slot: number, packetsFwd: number, kind: 'update' | 'end' = 'update'): FlowRecord =>
      record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', kind, endReason: kind === 'end' ? 'tcpClosed' : 'none', flowId, slot, packetsFwd, bytesFwd: 0, packetsRev: 0, bytesRev: 0 })
    aggregator.add(open(1, 1, 2))
    aggregator.add(open(2, 2, 5))
    aggregator.add(open(1, 1, 7)) // +5
    assert.equal(aggregator.stats().trackedFlows, 2)
    aggregator.add(open(1, 1, 9, 'end')) // +2, slot 1 free again
    aggregator.add(open(3, 1, 4)) // a new flow in slot 1: counted whole
    aggregator.add(open(4, 2, 6)) // slot 2 reused without flow 2's end: flow 2 forgotten, flow 4 counted whole
    assert.equal(aggregator.stats().drops.trackedFlowEvicted, 1)
    aggregator.add(open(5, 9, 3)) // a slot past the bound: tracked by flow id instead
    aggregator.add(open(5, 9, 8)) // +5
    assert.equal(aggregator.stats().trackedFlows, 3)
    const src = byReporter(aggregator.flushAll(), 'Src')
    assert.equal(src.reduce((n, l) => n + l.packetsOut, 0), 2 + 5 + 5 + 2 + 4 + 6 + 3 + 5)
  })

  test('flows forgotten when their source ended: the same flow id and slot again is a new flow, counted whole', () => {
    const { aggregator } = setup()
    const open = (flowId: number, slot: number, packetsFwd: number): FlowRecord =>
      record({ srcAddr: '10.0.1.1', dstAddr: '10.0.2.1', kind: 'update', endReason: 'none', flowId, slot, packetsFwd, bytesFwd: 0, packetsRev: 0, bytesRev: 0 })
    aggregator.add(open(1, 1, 3))
    aggregator.add(open(2, 0, 4))
    aggregator.flushAll()
    aggregator.forgetFlows()
    assert.equal(aggregator.stats().trackedFlows, 0)
    aggregator.add(open(1, 1, 5))
    aggregator.add(open(2, 0, 6))
    assert.equal(byReporter(aggregator.flushAll(), 'Src').reduce((n, l) => n + l.packetsOut, 0), 11)
    assert.equal(aggregator.stats().drops.trackedFlowEvicted, 0)
  })

  test('the resolver caches addresses and never throws on bad input', () => {
    const { resolver } = setup()
    assert.equal(resolver.resolve('not-an-ip'), undefined)
    assert.equal(resolver.resolve('10.0.1.1'), resolver.resolve('10.0.1.1'))
    assert.equal(resolver.resolve('10.0.1.1')?.local, true)
    assert.equal(resolver.resolve('10.0.2.2')?.local, false)
  })
})

describe('flow-key numbering', () => {
  test('equal keys get equal numbers and distinct keys distinct ones, hash collisions included', () => {
    // 12-bit hashes: 288,000 keys share 4,096 hash values, so nearly every lookup walks a collision list.
    const ids = new FlowKeyIds(12)
    const deny: PolicyHit = { kind: 'StagedNetworkPolicy', namespace: 'db', name: 'lockdown', tier: 'default', action: 'Deny', policyIndex: 0, ruleIndex: 0 }
    const traces: Array<readonly PolicyHit[]> = [[], [deny], [{ ...deny, ruleIndex: 1 }]]
    // Every field varies on its own: keys differing in any one of them must get different numbers.
    const numberOf = (i: number): number => {
      const port = i % 1000
      let rest = Math.floor(i / 1000)
      const pick = (n: number): number => { const v = rest % n; rest = Math.floor(rest / n); return v }
      const source = pick(2)
      const proto = pick(2)
      const reporter = pick(2)
      const action = pick(2)
      const enforced = traces[pick(3)] as readonly PolicyHit[]
      const pending = traces[pick(3)] as readonly PolicyHit[]
      const service = pick(2)
      return ids.id(`web-${source}`, 'shop', 'WorkloadEndpoint', 'redis-0', 'db', 'WorkloadEndpoint', service === 0 ? '' : 'redis', service === 0 ? '' : 'db', '',
        service === 0 ? 0 : 6379, port, proto === 0 ? 'tcp' : 'udp', reporter === 0 ? 'Src' : 'Dst', action === 0 ? 'Allow' : 'Deny', enforced, pending, undefined, undefined)
    }
    const first = Array.from({ length: 288_000 }, (_, i) => numberOf(i))
    assert.equal(new Set(first).size, first.length, 'distinct keys, distinct numbers')
    assert.equal(ids.keyCount, first.length)
    for (let i = 0; i < first.length; i += 7) assert.equal(numberOf(i), first[i], 'the same key again, the same number')
    assert.equal(ids.keyCount, first.length)
  })
})
