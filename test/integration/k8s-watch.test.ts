// KubernetesPolicySource against the in-process fake API server (real list/watch HTTP protocol on 127.0.0.1):
// initial sync gates readiness; staged policies, pods and invalid objects flow through incrementally; 410 Gone
// (in-stream and as an HTTP answer) relists without losing an update; a dropped stream resumes from the last
// resourceVersion (bookmarks included) without relisting; failed lists back off and retry; Calico's CRDs are
// read when its API server is absent.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, afterEach, describe, test } from 'node:test'
import { pino } from 'pino'
import { FlowPipeline } from '../../agent/src/agent/flow-pipeline.js'
import { KubernetesPolicySource } from '../../agent/src/k8s/kubernetes-policy-source.js'
import { WatchBackoff } from '../../agent/src/k8s/watch-backoff.js'
import { parseIp } from '../../agent/src/policy/ip-address.js'
import type { PolicySet } from '../../agent/src/agent/policy-source.js'
import { clusterResources, FakeKubeApiServer } from './helpers/fake-kube-apiserver.js'

const dir = mkdtempSync(join(tmpdir(), 'shadowflow-k8s-it-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })

const ns = (name: string, labels: Record<string, string> = {}): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string>, node = 'node-1'): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels, managedFields: [{ manager: 'kubelet' }], annotations: { big: 'x'.repeat(1000) } },
  spec: { nodeName: node, serviceAccountName: 'default', containers: [{ name: 'c', image: 'img', ports: [{ name: 'redis', containerPort: 6379 }] }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] }
})
const ALLOW_WEB = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'NetworkPolicy',
  metadata: { name: 'allow-web', namespace: 'db' },
  spec: { selector: "app == 'redis'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'", namespaceSelector: 'all()' }, destination: { ports: [6379] } }] }
}
const LOCKDOWN = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'StagedNetworkPolicy',
  metadata: { name: 'lockdown', namespace: 'db' },
  spec: { order: 1, selector: "app == 'redis'", ingress: [{ action: 'Deny' }] }
}

function seed (server: FakeKubeApiServer, calico: 'v3' | 'crd' | 'none'): void {
  server.apply(ns('shop'))
  server.apply(ns('db'))
  server.apply(pod('shop', 'web-1', '10.0.1.1', { app: 'web' }))
  server.apply(pod('db', 'redis-0', '10.0.2.1', { app: 'redis' }, 'node-2'))
  // Calico stores the v3 object in its CRD with the same spec.
  if (calico !== 'none') server.apply(calico === 'v3' ? ALLOW_WEB : { ...ALLOW_WEB, apiVersion: 'crd.projectcalico.org/v1' })
}

interface Harness {
  server: FakeKubeApiServer
  source: KubernetesPolicySource
  pipeline: FlowPipeline
  logs: Array<Record<string, unknown>>
  loaded: Promise<PolicySet>
}

const running: Harness[] = []
afterEach(async () => {
  for (const h of running.splice(0)) {
    h.source.stop()
    await h.loaded.catch(() => undefined)
    await h.server.stop()
  }
})

let serial = 0
async function harness (options: { calico?: 'v3' | 'crd' | 'none', before?: (server: FakeKubeApiServer) => void } = {}): Promise<Harness> {
  const server = new FakeKubeApiServer(clusterResources(options.calico ?? 'v3'))
  await server.start()
  // Stopped even when seeding throws.
  running.push({ server, source: { stop: () => {} } as unknown as KubernetesPolicySource, loaded: Promise.resolve({} as PolicySet) } as Harness)
  seed(server, options.calico ?? 'v3')
  options.before?.(server)
  const kubeconfig = join(dir, `kubeconfig-${serial++}`)
  server.writeKubeconfig(kubeconfig)
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, new Writable({ write (chunk: Buffer, _e, cb) { for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>); cb() } }))
  const pipeline = new FlowPipeline({ nodeName: 'node-1', allLocal: true, stagedMode: 'calico', intervalSeconds: 15, maxTrackedFlows: 1000, recentFlows: 10 })
  const source = new KubernetesPolicySource({
    kubeconfig,
    logger,
    apply: set => { pipeline.apply(set) },
    debounceMs: 20,
    // Deterministic and short: the n-th retry waits 40·2^n ms.
    newBackoff: () => new WatchBackoff({ baseMs: 40, capMs: 400, random: () => 0.999 })
  })
  const h: Harness = { server, source, pipeline, logs, loaded: source.load() }
  running[running.length - 1] = h
  return h
}

async function waitFor (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

function verdicts (pipeline: FlowPipeline, src: string, dst: string, port: number): { enforced: string, pending: string } {
  const srcIp = parseIp(src)
  const dstIp = parseIp(dst)
  assert.ok(srcIp !== undefined && dstIp !== undefined)
  const directory = pipeline.set?.directory
  const v = pipeline.engine.evaluate({
    src: { ip: srcIp, endpoint: directory?.endpointForIp(srcIp), port: 40000 },
    dst: { ip: dstIp, endpoint: directory?.endpointForIp(dstIp), port },
    protocol: 6
  })
  return { enforced: v.enforced.action, pending: v.pending.action }
}

const podIp = (h: Harness, ip: string): string | undefined => {
  const parsed = parseIp(ip)
  return parsed === undefined ? undefined : h.pipeline.set?.directory.endpointForIp(parsed)?.name
}

describe('KubernetesPolicySource against a fake API server', () => {
  test('nothing is published and readiness stays false until every resource has listed', async () => {
    const h = await harness({ before: server => { server.hold('/api/v1/services') } })
    let done = false
    void h.loaded.then(() => { done = true })
    await waitFor('the other resources to sync', () => h.source.stats().resources.filter(r => r.synced).length === h.source.stats().resources.length - 1)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(done, false)
    assert.equal(h.source.status().generation, 0)
    assert.equal(h.pipeline.set, undefined, 'no flow may be evaluated against a half-synced cache')
    assert.match(h.source.notReadyDetail(), /waiting for the initial list of services$/)
    h.server.release('/api/v1/services')
    const set = await h.loaded
    assert.equal(set.generation, 1)
    assert.equal(h.source.notReadyDetail(), '')
    assert.equal(podIp(h, '10.0.1.1'), 'web-1')
    assert.deepEqual(set.policies.map(p => `${p.ref.kind} ${p.ref.namespace}/${p.ref.name}`), ['CalicoNetworkPolicy db/allow-web'])
    // Every Calico kind was found through projectcalico.org/v3.
    assert.ok(Object.values(h.source.stats().calicoSources).every(s => s === 'projectcalico.org/v3'))
  })

  test('a staged policy added to the cluster changes the pending verdict of a flow, not the enforced one', async () => {
    const h = await harness()
    await h.loaded
    assert.deepEqual(verdicts(h.pipeline, '10.0.1.1', '10.0.2.1', 6379), { enforced: 'Allow', pending: 'Allow' })
    h.server.apply(LOCKDOWN)
    await waitFor('the staged policy', () => h.pipeline.set?.policies.some(p => p.staged) === true)
    assert.deepEqual(verdicts(h.pipeline, '10.0.1.1', '10.0.2.1', 6379), { enforced: 'Allow', pending: 'Deny' })
    h.server.remove('projectcalico.org/v3', 'StagedNetworkPolicy', 'lockdown', 'db')
    await waitFor('the staged policy to go', () => h.pipeline.set?.policies.some(p => p.staged) === false)
    assert.deepEqual(verdicts(h.pipeline, '10.0.1.1', '10.0.2.1', 6379), { enforced: 'Allow', pending: 'Allow' })
    // A policy change reuses the directory; only the changed policy is compiled.
    assert.equal(h.logs.filter(l => l.msg === 'policy set loaded' && l.directoryRebuilt === false).length >= 2, true)
  })

  test('pods added, changed and removed update the endpoint index; finished pods leave it', async () => {
    const h = await harness()
    await h.loaded
    assert.equal(podIp(h, '10.0.3.3'), undefined)
    h.server.apply(pod('shop', 'web-2', '10.0.3.3', { app: 'web' }))
    await waitFor('web-2', () => podIp(h, '10.0.3.3') === 'web-2')
    assert.equal(h.pipeline.set?.directory.endpointForIp(parseIp('10.0.3.3') as never)?.nodeName, 'node-1')
    h.server.apply({ ...pod('shop', 'web-2', '10.0.3.3', { app: 'web' }), status: { phase: 'Succeeded', podIP: '10.0.3.3' } })
    await waitFor('the finished pod to leave', () => podIp(h, '10.0.3.3') === undefined)
    h.server.apply(pod('shop', 'web-3', '10.0.3.4', { app: 'web' }))
    await waitFor('web-3', () => podIp(h, '10.0.3.4') === 'web-3')
    h.server.remove('v1', 'Pod', 'web-3', 'shop')
    await waitFor('web-3 to go', () => podIp(h, '10.0.3.4') === undefined)
    // The cache keeps only what shadowflow reads.
    const labels = h.pipeline.set?.resources.find(r => r.resource.metadata.name === 'web-1')?.resource.metadata
    assert.equal(labels?.managedFields, undefined)
    assert.equal(labels?.annotations, undefined)
  })

  test('an invalid NetworkPolicy is logged with its name and skipped; the rest stays in force', async () => {
    const h = await harness()
    await h.loaded
    h.server.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad-port', namespace: 'db' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] } })
    h.server.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-db', namespace: 'db' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } })
    await waitFor('deny-db', () => h.pipeline.set?.policies.some(p => p.ref.name === 'deny-db') === true)
    const names = h.pipeline.set?.policies.map(p => p.ref.name).sort()
    assert.deepEqual(names, ['allow-web', 'deny-db'])
    const warning = h.logs.find(l => l.msg === 'invalid object skipped')
    assert.ok(warning !== undefined, 'the invalid object is logged')
    assert.equal(warning.name, 'bad-port')
    assert.equal(warning.namespace, 'db')
    assert.equal(warning.kind, 'NetworkPolicy')
    assert.match(String(warning.error), /spec\.ingress\[0\]\.ports\[0\]\.port: .*70000/)
    assert.match(h.source.status().lastError, /networkpolicies\.networking\.k8s\.io db\/bad-port/)
    assert.equal(h.source.stats().invalidObjects, 1)
    // Fixing the object brings it in.
    h.server.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad-port', namespace: 'db' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 7000 }] }] } })
    await waitFor('bad-port fixed', () => h.pipeline.set?.policies.some(p => p.ref.name === 'bad-port') === true)
    assert.equal(h.source.stats().invalidObjects, 0)
  })

  test('410 Gone in the stream relists, and changes made meanwhile (including a deletion) are not lost', async () => {
    const h = await harness()
    await h.loaded
    const pods = (): { lists: number, gone: number } => h.source.stats().resources.find(r => r.resource === 'pods') as { lists: number, gone: number }
    await waitFor('the pods watch', () => h.server.watchCount('/api/v1/pods') === 1)
    assert.equal(pods().lists, 1)
    // Synchronous: the client cannot see any of this until the event loop turns, so the changes fall in the gap.
    h.server.dropWatches()
    h.server.apply(pod('shop', 'web-9', '10.0.9.9', { app: 'web' }))
    h.server.remove('v1', 'Pod', 'redis-0', 'db')
    h.server.compact()
    await waitFor('web-9 after the relist', () => podIp(h, '10.0.9.9') === 'web-9')
    await waitFor('redis-0 gone after the relist', () => podIp(h, '10.0.2.1') === undefined)
    assert.ok(pods().gone >= 1, 'the 410 was seen')
    assert.equal(pods().lists, 2, 'exactly one relist')
    assert.ok(h.logs.some(l => l.msg === 'watch expired (410 Gone); relisting' && l.resource === 'pods'))
  })

  test('410 Gone as the answer to a watch request relists too', async () => {
    const h = await harness()
    await h.loaded
    await waitFor('the pods watch', () => h.server.watchCount('/api/v1/pods') === 1)
    h.server.failNext('/api/v1/pods', 410, 1, true)
    h.server.dropWatches()
    h.server.apply(pod('shop', 'web-8', '10.0.8.8', { app: 'web' }))
    h.server.compact()
    await waitFor('web-8', () => podIp(h, '10.0.8.8') === 'web-8')
    assert.equal(h.source.stats().resources.find(r => r.resource === 'pods')?.lists, 2)
  })

  test('a dropped watch resumes from the last resourceVersion (bookmarks included) without relisting', async () => {
    const h = await harness()
    await h.loaded
    await waitFor('the pods watch', () => h.server.watchCount('/api/v1/pods') === 1)
    const lastPodsWatch = (): URLSearchParams => (h.server.requests.filter(r => r.watch && r.path === '/api/v1/pods').at(-1) as { query: URLSearchParams }).query
    assert.equal(lastPodsWatch().get('allowWatchBookmarks'), 'true')
    const rv = h.server.apply(pod('shop', 'web-5', '10.0.5.5', { app: 'web' }))
    await waitFor('web-5', () => podIp(h, '10.0.5.5') === 'web-5')
    h.server.dropWatches()
    await waitFor('the resumed pods watch', () => h.server.watchCount('/api/v1/pods') === 1)
    assert.equal(lastPodsWatch().get('resourceVersion'), String(rv), 'resumed from the last event seen')
    // Other kinds move the resourceVersion on; a bookmark tells the pods watch, so it resumes from there.
    const later = h.server.apply(ns('extra'))
    const watchesBefore = h.server.requests.filter(r => r.watch && r.path === '/api/v1/pods').length
    h.server.bookmark()
    await waitFor('the bookmark', () => (h.source.stats().resources.find(r => r.resource === 'pods')?.bookmarks ?? 0) >= 1)
    h.server.dropWatches()
    await waitFor('the pods watch again', () => h.server.requests.filter(r => r.watch && r.path === '/api/v1/pods').length > watchesBefore && h.server.watchCount('/api/v1/pods') === 1)
    assert.equal(lastPodsWatch().get('resourceVersion'), String(later))
    h.server.apply(pod('shop', 'web-6', '10.0.6.6', { app: 'web' }))
    await waitFor('web-6 through the resumed watch', () => podIp(h, '10.0.6.6') === 'web-6')
    assert.equal(h.source.stats().resources.find(r => r.resource === 'pods')?.lists, 1, 'no relist')
  })

  test('failed lists and watches back off and retry; readiness waits for them', async () => {
    const h = await harness({ before: server => { server.failNext('/api/v1/pods', 500, 3, false) } })
    await h.loaded
    const stats = h.source.stats().resources.find(r => r.resource === 'pods')
    assert.equal(stats?.errors, 3)
    assert.equal(stats?.lists, 4)
    assert.ok(h.logs.filter(l => l.msg === 'watch failed; retrying').map(l => l.retryInMs).every((ms, i, all) => i === 0 || Number(ms) >= Number(all[i - 1])), 'the delays grow')
    // A refused watch is retried from the same resourceVersion.
    await waitFor('the pods watch', () => h.server.watchCount('/api/v1/pods') === 1)
    h.server.failNext('/api/v1/pods', 500, 2, true)
    h.server.dropWatches()
    h.server.apply(pod('shop', 'web-7', '10.0.7.7', { app: 'web' }))
    await waitFor('web-7', () => podIp(h, '10.0.7.7') === 'web-7')
    assert.equal(h.source.stats().resources.find(r => r.resource === 'pods')?.lists, 4, 'resumed, not relisted')
  })

  test('lists are read page by page', async () => {
    const h = await harness({ before: server => { server.paginate(1) } })
    const set = await h.loaded
    assert.equal(set.directory.workloads.length, 2)
    assert.ok(h.server.requests.some(r => r.path === '/api/v1/pods' && r.query.get('continue') === '1'))
  })

  test('without Calico\'s API server, its crd.projectcalico.org/v1 objects are read as v3', async () => {
    const h = await harness({
      calico: 'crd',
      before: server => {
        server.apply({
          apiVersion: 'crd.projectcalico.org/v1',
          kind: 'StagedNetworkPolicy',
          metadata: { name: 'default.lockdown', namespace: 'db', labels: { stale: 'x' }, annotations: { 'projectcalico.org/metadata': '{"labels":{"team":"db"}}' } },
          spec: { tier: 'default', order: 1, selector: "app == 'redis'", types: ['Ingress'], ingress: [{ action: 'Deny' }] }
        })
      }
    })
    // The seeded projectcalico.org/v3 policy is not served here; only the CRD object is.
    const set = await h.loaded
    assert.equal(h.source.stats().calicoSources.StagedNetworkPolicy, 'crd.projectcalico.org/v1')
    const staged = set.resources.find(r => r.resource.kind === 'StagedNetworkPolicy')?.resource
    assert.equal(staged?.apiVersion, 'projectcalico.org/v3')
    assert.deepEqual(staged?.metadata.labels, { team: 'db' })
    assert.deepEqual(verdicts(h.pipeline, '10.0.1.1', '10.0.2.1', 6379), { enforced: 'Allow', pending: 'Deny' })
  })

  test('a kubeconfig whose token the server refuses keeps the source unready, saying why', async () => {
    const h = await harness()
    await h.loaded
    const server = new FakeKubeApiServer(clusterResources('none'))
    await server.start()
    const kubeconfig = join(dir, 'kubeconfig-bad')
    server.writeKubeconfig(kubeconfig)
    const { writeFileSync, readFileSync } = await import('node:fs')
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(server.token, 'wrong'))
    const source = new KubernetesPolicySource({ kubeconfig, logger: pino({ level: 'silent' }), apply: () => {}, newBackoff: () => new WatchBackoff({ baseMs: 20, capMs: 50 }) })
    const loaded = source.load()
    try {
      await waitFor('a discovery failure', () => /API discovery failed: .*401/.test(source.notReadyDetail()))
    } finally {
      source.stop()
      await assert.rejects(loaded, { code: 'ERR_UNAVAILABLE' })
      await server.stop()
    }
  })
})
