// The per-end verdict cache (agent/src/policy/end-verdict-cache.ts) is sound: over the policy benchmark's
// 100,000 flows and randomized flows on the small generated cluster (external addresses, ICMP, source ports,
// every port, both staged modes, a tiny bound that forces evictions), every verdict and trace that evaluate()
// returns through it equals a fresh evaluateUncached() (both ends, and each end alone), and it is actually used
// (it hits). Ends given as endpoints at their own address take the engine's fast path (evaluatePlainEnds); ends
// given by address, or external, the general one: the randomized flows mix both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { parseIp, type IpAddress } from '../../agent/src/policy/ip-address.js'
import { normalizePolicies } from '../../agent/src/policy/normalized-policy.js'
import { ENFORCED_DST_DENIES, ENFORCED_SRC_DENIES, PENDING_DST_DENIES, PENDING_SRC_DENIES, type FlowVerdicts, type PolicyHit } from '../../agent/src/policy/policy-hit.js'
import { PolicyEngine, type EvaluatedEnds, type FlowInput, type PolicyEngineOptions } from '../../agent/src/policy/policy-engine.js'
import { FULL_SIZE, generateCluster, SMALL_SIZE, type GeneratedCluster } from '../bench/fixtures/generate-cluster.js'
import { TestCluster, globalNetworkSet, gnp, hostEndpoint, namespace, np, pod, service } from './helpers/cluster-builder.js'
import { random } from '../bench/fixtures/synthetic-cluster.js'

function ip (text: string): IpAddress {
  const parsed = parseIp(text)
  assert.ok(parsed !== undefined, `bad address ${text}`)
  return parsed
}

function engineFor (cluster: GeneratedCluster, options: PolicyEngineOptions): { engine: PolicyEngine, directory: InventoryDirectory } {
  const loaded = cluster.resources.map((resource, i) => ({ resource, origin: { file: 'generated', line: i + 1 } }))
  const directory = new InventoryDirectory(loaded)
  const engine = new PolicyEngine(directory, options)
  engine.setPolicies(normalizePolicies(loaded), cluster.tiers)
  return { engine, directory }
}

/** FlowVerdicts.endDenies as the traces say it: an end denies when its deciding (last) hit does. */
function denialsOf (v: FlowVerdicts): number {
  const denies = (hits: readonly PolicyHit[], bit: number): number => hits[hits.length - 1]?.action === 'Deny' ? bit : 0
  return denies(v.enforced.src, ENFORCED_SRC_DENIES) | denies(v.enforced.dst, ENFORCED_DST_DENIES) | denies(v.pending.src, PENDING_SRC_DENIES) | denies(v.pending.dst, PENDING_DST_DENIES)
}

/**
 * Evaluates every flow through the caches and uncached — both ends, or one (`ends`) — and returns the flows whose
 * results differ.
 */
function mismatches (engine: PolicyEngine, flows: readonly FlowInput[], ends: EvaluatedEnds = 'both'): string[] {
  const out: string[] = []
  for (const f of flows) {
    const cached = engine.evaluate(f, ends)
    const fresh = engine.evaluateUncached(f, ends)
    try {
      assert.deepStrictEqual(cached, fresh)
      assert.equal(cached.endDenies, denialsOf(cached), 'endDenies says which traces end in a Deny')
    } catch { if (out.length < 5) out.push(JSON.stringify(f, (_, v: unknown) => typeof v === 'bigint' ? String(v) : v)) }
  }
  return out
}

test('end cache: the policy benchmark\'s 100,000 flows get the verdicts and traces of a fresh evaluation', () => {
  const cluster = generateCluster(FULL_SIZE)
  // No whole-flow cache, so every evaluate() goes through the per-end cache.
  const { engine, directory } = engineFor(cluster, { verdictCacheSize: 0 })
  const flows: FlowInput[] = cluster.flows.map(f => ({ src: { ip: ip(f.src.ip) }, dst: { ip: ip(f.dst.ip), port: f.port }, protocol: f.protocol }))
  assert.deepEqual(mismatches(engine, flows), [])
  // The same flows with pods given as endpoints too, as the flow-log aggregator gives them (the fast path).
  const asEndpoints = flows.map(f => ({ ...f, src: { ...f.src, endpoint: directory.endpointForIp(f.src.ip as IpAddress) }, dst: { ...f.dst, endpoint: directory.endpointForIp(f.dst.ip as IpAddress) } }))
  assert.deepEqual(mismatches(engine, asEndpoints), [])
  assert.deepEqual(mismatches(engine, asEndpoints, 'src'), [])
  const stats = engine.stats()
  assert.ok(stats.endCacheHits > stats.endCacheMisses, `the per-end cache answers most ends (${stats.endCacheHits} hits, ${stats.endCacheMisses} misses)`)
})

for (const stagedMode of ['calico', 'replace'] as const) {
  test(`end cache: randomized flows on the small cluster (${stagedMode} mode, endpoints given or not, ICMP, source ports, evictions)`, () => {
    const cluster = generateCluster(SMALL_SIZE)
    for (const endVerdictCacheSize of [1 << 20, 64]) {
      const { engine, directory } = engineFor(cluster, { stagedMode, verdictCacheSize: 0, endVerdictCacheSize })
      const rnd = random(stagedMode === 'calico' ? 11 : 12)
      const pods = directory.workloads
      const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T
      const external = (): IpAddress => ip(pick(['203.0.113.7', '203.0.113.200', '198.51.100.9', '8.8.8.8', '10.9.9.9']))
      const flows: FlowInput[] = []
      for (let i = 0; i < 20_000; i++) {
        const end = (): FlowInput['src'] => {
          const r = rnd()
          if (r < 0.1) return { ip: external() }
          const pod = pick(pods)
          return r < 0.5 ? { ip: pod.ips[0] as IpAddress } : r < 0.8 ? { endpoint: pod } : { ip: pod.ips[0] as IpAddress, endpoint: pod }
        }
        const protocol = pick([6, 6, 6, 17, 1, 132])
        const port = pick([22, 23, 53, 80, 443, 3306, 5432, 6379, 8080, 8125, 9090, 9100, 5999, 7000, 40000])
        const src = { ...end(), ...(protocol === 1 ? {} : { port: 32768 + Math.floor(rnd() * 4) }) }
        const dst = { ...end(), ...(protocol === 1 ? {} : { port }) }
        flows.push(protocol === 1 ? { src, dst, protocol, icmpType: pick([0, 8]), icmpCode: 0 } : { src, dst, protocol })
      }
      assert.deepEqual(mismatches(engine, flows), [], `bound ${endVerdictCacheSize}`)
      // One end only, as the flow-log aggregator asks for a flow with one local end.
      assert.deepEqual(mismatches(engine, flows, 'src'), [], `source end, bound ${endVerdictCacheSize}`)
      assert.deepEqual(mismatches(engine, flows, 'dst'), [], `destination end, bound ${endVerdictCacheSize}`)
      const stats = engine.stats()
      assert.ok(stats.endCacheHits > 0)
      if (endVerdictCacheSize === 64) assert.ok(stats.endCacheEvictions > 0, 'a tiny bound evicts, and says so')
    }
  })
}

test('end cache: a directory change drops what it learned about entities', () => {
  const cluster = generateCluster(SMALL_SIZE)
  const { engine } = engineFor(cluster, { verdictCacheSize: 0 })
  const flows: FlowInput[] = cluster.flows.slice(0, 2000).map(f => ({ src: { ip: ip(f.src.ip) }, dst: { ip: ip(f.dst.ip), port: f.port }, protocol: f.protocol }))
  assert.deepEqual(mismatches(engine, flows), [])
  // The same cluster with every pod's labels changed: new selector results, so the old classes must not be reused.
  const relabelled = cluster.resources.map((resource, i) => {
    if (resource.kind !== 'Pod') return { resource, origin: { file: 'generated', line: i + 1 } }
    const labels = { ...resource.metadata.labels, tier: 'db', quarantine: 'true' }
    return { resource: { ...resource, metadata: { ...resource.metadata, labels } }, origin: { file: 'generated', line: i + 1 } }
  })
  engine.setDirectory(new InventoryDirectory(relabelled))
  assert.deepEqual(mismatches(engine, flows), [])
})

test('end cache: what rules read of either end is in the key (named ports, nets, secondary addresses, network sets, host profiles, services)', () => {
  const http = (port: number): Array<{ name: string, containerPort: number, protocol: 'TCP' }> => [{ name: 'http', containerPort: port, protocol: 'TCP' }]
  const resources = [
    namespace('a', { team: 'x' }),
    namespace('b', { team: 'y' }),
    pod('a', 'client', '10.0.0.1', { labels: { app: 'client' } }),
    pod('a', 'web1', '10.0.0.2', { labels: { app: 'web' }, ports: http(8080) }),
    pod('a', 'web2', '10.0.0.3', { labels: { app: 'web' }, ports: http(9090) }),
    pod('b', 'web3', '10.0.0.4', { labels: { app: 'web' }, ports: http(8080) }),
    pod('a', 'multi', '10.0.0.5', { labels: { app: 'client' }, ips: ['10.0.1.5'] }),
    globalNetworkSet('partners', ['203.0.113.0/24'], { external: 'partners' }),
    hostEndpoint('h1', ['192.168.0.10'], { labels: { app: 'web' } }),
    hostEndpoint('h2', ['192.168.0.11'], { labels: { app: 'web' }, profiles: ['projectcalico-default-allow'] }),
    service('a', 'web', '10.96.0.10', { app: 'web' }, [{ port: 80, targetPort: 'http', protocol: 'TCP' }]),
    gnp('egress-named', { order: 10, selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Deny', destination: { nets: ['10.0.1.0/24'] } }, { action: 'Allow', protocol: 'TCP', destination: { ports: ['http'] } }] }),
    gnp('egress-source', { order: 20, selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Deny', source: { nets: ['10.0.1.0/24'] } }] }),
    gnp('ingress', { order: 30, selector: "app == 'web'", types: ['Ingress'], ingress: [{ action: 'Allow', source: { selector: "external == 'partners'" } }, { action: 'Deny', source: { nets: ['10.0.1.0/24'] } }, { action: 'Allow', protocol: 'TCP', source: { namespaceSelector: "team == 'x'" }, destination: { ports: ['http'] } }] }),
    gnp('egress-service', { order: 5, selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Allow', destination: { services: { name: 'web', namespace: 'a' } } }] }),
    np('b', 'service-only', { order: 5, selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Allow', destination: { services: { name: 'web', namespace: 'a' } } }] })
  ]
  const uncachedCluster = new TestCluster(resources, { verdictCacheSize: 0 })
  const e = uncachedCluster.engine
  const ends = ['a/client', 'a/web1', 'a/web2', 'b/web3', 'a/multi', '10.0.1.5', '203.0.113.9', '8.8.8.8', 'hep:h1', 'hep:h2', '10.96.0.10']
  const flows: FlowInput[] = []
  for (const from of ends) {
    for (const to of ends) {
      if (from === to) continue
      for (const port of [80, 8080, 9090]) flows.push(uncachedCluster.flowInput(from, to, { port }))
    }
  }
  // Both orders, so an entry computed for one end is offered to every other end the key might confuse it with.
  assert.deepEqual(mismatches(e, flows), [])
  assert.deepEqual(mismatches(e, [...flows].reverse()), [])
  assert.ok(e.stats().endCacheHits > 0)
})

/** The addresses of the fast-path tests' small cluster, per IP family. */
const FAMILIES = [
  { name: 'IPv4', client: '10.0.0.1', web: '10.0.0.2', multi: '10.0.0.5', multiSecond: '10.0.1.5', secondNet: '10.0.1.0/24' },
  { name: 'IPv6', client: 'fd00::1', web: 'fd00::2', multi: 'fd00::5', multiSecond: 'fd00:1::5', secondNet: 'fd00:1::/64' }
]

for (const family of FAMILIES) {
  test(`end cache: ${family.name} endpoints given as endpoints — with or without their address, or at a second address — get a fresh evaluation's verdicts`, () => {
    // Every plan here is cacheable, so ends given as endpoints take the fast path — which remembers classes for an
    // endpoint at its first address and must leave any other address (here: in a denied range) to the general path.
    const cluster = new TestCluster([
      namespace('a', {}),
      pod('a', 'client', family.client, { labels: { app: 'client' } }),
      pod('a', 'web', family.web, { labels: { app: 'web' } }),
      pod('a', 'multi', family.multi, { labels: { app: 'client' }, ips: [family.multiSecond] }),
      gnp('egress-source', { order: 20, selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Deny', source: { nets: [family.secondNet] } }, { action: 'Allow' }] }),
      gnp('ingress-web', { order: 30, selector: "app == 'web'", types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] })
    ], { verdictCacheSize: 0 })
    const multi = cluster.directory.workload('a', 'multi')
    assert.ok(multi !== undefined)
    const flows: FlowInput[] = []
    for (const port of [80, 443]) {
      const f = cluster.flowInput('a/client', 'a/web', { port })
      flows.push(f, { ...f, src: { endpoint: f.src.endpoint }, dst: { endpoint: f.dst.endpoint, port } })
      for (const address of [family.multi, family.multiSecond]) flows.push({ ...f, src: { ...f.src, ip: ip(address), endpoint: multi } })
    }
    // Twice over: the second round meets what the first one cached.
    assert.deepEqual(mismatches(cluster.engine, [...flows, ...flows]), [])
    assert.deepEqual(flows.map(f => cluster.engine.evaluate(f).enforced.action), ['Allow', 'Allow', 'Allow', 'Deny', 'Deny', 'Deny', 'Deny', 'Deny'])
  })
}
