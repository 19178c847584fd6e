// Compile once, evaluate many (design, "Non-functional goals"): the verdict cache answers repeated flows with the
// same verdicts and keys on everything a rule can look at; setPolicies recompiles only changed policies and the
// verdicts follow the change; setDirectory drops remembered selector results, so new labels take effect.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { parseIp, type IpAddress } from '../../agent/src/policy/ip-address.js'
import type { FlowInput } from '../../agent/src/policy/policy-engine.js'
import type { Resource } from '../../agent/src/policy/resources.js'
import { TestCluster, gnp, namespace, pod, serviceAccount, tier, verdictText } from './helpers/cluster-builder.js'

function ip (text: string): IpAddress {
  const parsed = parseIp(text)
  assert.ok(parsed !== undefined)
  return parsed
}

/** A flow between two addresses; the engine finds the endpoints in its current directory. */
function flow (from: string, to: string, port: number, extra: Partial<FlowInput> = {}): FlowInput {
  return { src: { ip: ip(from) }, dst: { ip: ip(to), port }, protocol: 6, ...extra }
}

const inventory = (serverLabels: Record<string, string>, clientLabels: Record<string, string> = { app: 'client' }, nsLabels: Record<string, string> = { team: 'x' }, saLabels: Record<string, string> = { role: 'web' }): Resource[] => [
  namespace('a', nsLabels),
  serviceAccount('a', 'frontend', saLabels),
  pod('a', 'client', '10.0.0.1', { labels: clientLabels }),
  pod('a', 'server', '10.0.0.2', { labels: serverLabels, serviceAccount: 'frontend' })
]

const denyServers = gnp('deny-servers', { order: 10, selector: "app == 'server'", ingress: [{ action: 'Deny' }] })
const allowClients = gnp('allow-clients', { order: 20, selector: 'all()', ingress: [{ action: 'Allow', source: { selector: "app == 'client'" } }] })
const only80 = gnp('only-80', { order: 30, selector: 'all()', ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] })

test('verdict cache: a repeated flow is answered from the cache with the same verdicts', () => {
  const cluster = new TestCluster([...inventory({ app: 'server' }), only80])
  const before = cluster.engine.stats()
  const first = cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  const second = cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  const after = cluster.engine.stats()
  assert.deepEqual(second, first)
  assert.equal(after.verdictCacheMisses - before.verdictCacheMisses, 1)
  assert.equal(after.verdictCacheHits - before.verdictCacheHits, 1)
  assert.equal(first.enforced.action, 'Allow')
  // The cached answer equals a fresh evaluation.
  assert.deepEqual(cluster.engine.evaluateUncached(flow('10.0.0.1', '10.0.0.2', 80)), first)
})

test('verdict cache: the destination port, source port (when rules use it) and ICMP type are part of the key', () => {
  const srcPortRule = gnp('src-port', { order: 40, selector: 'all()', ingress: [{ action: 'Allow', protocol: 'TCP', source: { ports: [12345] } }] })
  const icmpRule = gnp('echo', { order: 50, selector: 'all()', ingress: [{ action: 'Allow', protocol: 'ICMP', icmp: { type: 8 } }] })
  const cluster = new TestCluster([...inventory({ app: 'server' }), only80, srcPortRule, icmpRule])
  const e = cluster.engine
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Allow')
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 81)).enforced.action, 'Deny')
  assert.equal(e.evaluate({ ...flow('10.0.0.1', '10.0.0.2', 81), src: { ip: ip('10.0.0.1'), port: 12345 } }).enforced.action, 'Allow')
  assert.equal(e.evaluate({ ...flow('10.0.0.1', '10.0.0.2', 81), src: { ip: ip('10.0.0.1'), port: 40000 } }).enforced.action, 'Deny')
  const icmp = (type: number): FlowInput => ({ src: { ip: ip('10.0.0.1') }, dst: { ip: ip('10.0.0.2') }, protocol: 1, icmpType: type, icmpCode: 0 })
  assert.equal(e.evaluate(icmp(8)).enforced.action, 'Allow')
  assert.equal(e.evaluate(icmp(0)).enforced.action, 'Deny')
})

test('verdict cache: bounded — when full it is emptied and the dropped entries counted; size 0 disables it', () => {
  const cluster = new TestCluster([...inventory({ app: 'server' }), only80], { verdictCacheSize: 2 })
  for (const p of [80, 81, 82]) cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', p))
  assert.equal(cluster.engine.stats().verdictCacheEvictions, 2, 'the two entries present when the bound was reached')
  cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 82))
  assert.equal(cluster.engine.stats().verdictCacheHits, 1)
  cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  assert.equal(cluster.engine.stats().verdictCacheHits, 1, 'port 80 was evicted')

  const uncached = new TestCluster([...inventory({ app: 'server' }), only80], { verdictCacheSize: 0 })
  const a = uncached.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  const b = uncached.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  assert.deepEqual(a, b)
  assert.equal(uncached.engine.stats().verdictCacheHits, 0)
})

test('setPolicies: only the changed policy is recompiled, and the verdict follows the change', () => {
  const cluster = new TestCluster([...inventory({ app: 'server' }), denyServers, allowClients, only80])
  const e = cluster.engine
  assert.equal(e.stats().policiesCompiled, 3)
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')

  // The same set again: nothing recompiled, verdict unchanged.
  cluster.setPolicies([denyServers, allowClients, only80])
  assert.deepEqual([e.stats().policiesCompiled, e.stats().policiesReused], [3, 3])

  // deny-servers now selects something else: one recompilation, two reuses, and the flow is allowed.
  const changed = gnp('deny-servers', { order: 10, selector: "app == 'nothing'", ingress: [{ action: 'Deny' }] })
  cluster.setPolicies([changed, allowClients, only80])
  assert.deepEqual([e.stats().policiesCompiled, e.stats().policiesReused], [4, 5])
  const v = e.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  assert.deepEqual(verdictText(v.enforced).dst, ['GlobalNetworkPolicy allow-clients [default] Allow rule 0'])

  // A removed policy stops applying; bringing it back compiles it again.
  cluster.setPolicies([only80])
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 81)).enforced.action, 'Deny')
  cluster.setPolicies([denyServers, only80])
  assert.equal(e.stats().policiesCompiled, 5)
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
})

test('setPolicies: a changed tier order takes effect without recompiling policies', () => {
  const deny = gnp('first.deny', { tier: 'first', selector: 'all()', ingress: [{ action: 'Deny' }] })
  const allow = gnp('second.allow', { tier: 'second', selector: 'all()', ingress: [{ action: 'Allow' }] })
  const cluster = new TestCluster([...inventory({ app: 'server' }), tier('first', 10), tier('second', 20), deny, allow])
  const e = cluster.engine
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
  cluster.setPolicies([tier('first', 30), tier('second', 20), deny, allow])
  assert.equal(e.stats().policiesCompiled, 2)
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Allow')
})

test('setDirectory: new pod labels change which policies apply (no stale selector memo or plan)', () => {
  const cluster = new TestCluster([...inventory({ app: 'server' }), denyServers, allowClients])
  const e = cluster.engine
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
  // Same pods, same ids, new labels on the server.
  e.setDirectory(new InventoryDirectory(inventory({ app: 'web' })))
  const v = e.evaluate(flow('10.0.0.1', '10.0.0.2', 80))
  assert.deepEqual(verdictText(v.enforced).dst, ['GlobalNetworkPolicy allow-clients [default] Allow rule 0'])
  assert.equal(e.stats().policiesCompiled, 2, 'a directory change recompiles nothing')
})

test('setDirectory: new labels on a rule\'s peer change whether the rule matches', () => {
  const cluster = new TestCluster([...inventory({ app: 'web' }), allowClients])
  const e = cluster.engine
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Allow')
  e.setDirectory(new InventoryDirectory(inventory({ app: 'web' }, { app: 'intruder' })))
  assert.equal(e.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
})

test('setDirectory: new namespace and service account labels take effect', () => {
  const byNamespace = gnp('deny-team-x', { selector: 'all()', namespaceSelector: "team == 'x'", ingress: [{ action: 'Deny' }] })
  const cluster = new TestCluster([...inventory({ app: 'web' }), byNamespace])
  assert.equal(cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
  cluster.engine.setDirectory(new InventoryDirectory(inventory({ app: 'web' }, { app: 'client' }, { team: 'y' })))
  assert.equal(cluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Allow')

  const bySa = gnp('deny-web-sa', { selector: 'all()', serviceAccountSelector: "role == 'web'", ingress: [{ action: 'Deny' }] })
  const saCluster = new TestCluster([...inventory({ app: 'web' }), bySa])
  assert.equal(saCluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Deny')
  saCluster.engine.setDirectory(new InventoryDirectory(inventory({ app: 'web' }, { app: 'client' }, { team: 'x' }, { role: 'batch' })))
  assert.equal(saCluster.engine.evaluate(flow('10.0.0.1', '10.0.0.2', 80)).enforced.action, 'Allow')
})
