// The agent run exactly as deploy/base's DaemonSet runs it — the rendered container args and environment
// (downward-API fields resolved, $(VAR) references expanded as the kubelet does), the rendered ConfigMap as its
// config file, the TLS Secret's file names — against the fake API server, with the rendered aggregator Deployment's
// args and ConfigMap as its aggregator. Replaced, and only these: the API server (a --kubeconfig instead of the in-cluster
// account), the tap source (synthetic: instead of pcap:cali*), the aggregator address (the Service's DNS name
// does not resolve here), the listen ports (port 0: this machine's rule for test servers) and the mount root
// (/etc/shadowflow → a temporary directory holding the ConfigMap's file and throwaway certificates).
// It must become ready (/readyz: tap, policies synced from the API, exporter connected over mTLS) and answer /healthz.
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { clusterResources, FakeKubeApiServer } from './helpers/fake-kube-apiserver.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = join(ROOT, 'bin/shadowflow.js')
const dir = mkdtempSync(join(tmpdir(), 'shadowflow-ds-it-'))
const mountRoot = join(dir, 'etc/shadowflow')
const children: ChildProcess[] = []
let server: FakeKubeApiServer | undefined

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

// Rendered manifests are deeply nested untyped YAML; the test reads known paths of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Rec = Record<string, any>

function rendered (): Rec[] {
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, 'deploy/base')], { encoding: 'utf8' })
  return parseAllDocuments(text).map(d => d.toJS() as Rec).filter(d => d !== null)
}

function openssl (...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

function certificates (): { agent: string, aggregator: string } {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=shadowflow-ca', '-keyout', 'ca.key', '-out', 'ca.crt')
  const leaf = (name: string, san: string): string => {
    const out = join(dir, name)
    mkdirSync(out, { recursive: true })
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', join(out, 'tls.key'), '-out', join(out, 'tls.csr'))
    writeFileSync(join(out, 'ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`)
    openssl('x509', '-req', '-in', join(out, 'tls.csr'), '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(Date.now() % 1e9), '-days', '1', '-extfile', join(out, 'ext'), '-out', join(out, 'tls.crt'))
    execFileSync('cp', ['ca.crt', join(out, 'ca.crt')], { cwd: dir })
    return out
  }
  return { agent: leaf('agent', 'DNS:shadowflow-agent'), aggregator: leaf('aggregator', 'DNS:shadowflow-aggregator.shadowflow.svc,IP:127.0.0.1') }
}

/** Where the pod's /etc/shadowflow mounts live in this test. */
const remount = (text: string): string => text.replaceAll('/etc/shadowflow', mountRoot)

/** The container's environment as the kubelet builds it: fieldRefs resolved, $(VAR) expanded from earlier entries. */
function containerEnv (container: Rec, fields: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef !== undefined) {
      const value = fields[e.valueFrom.fieldRef.fieldPath]
      assert.ok(value !== undefined, `the test does not know fieldRef ${e.valueFrom.fieldRef.fieldPath}`)
      env[e.name] = value
    } else {
      env[e.name] = String(e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m)
    }
  }
  return env
}

function expandArgs (args: readonly string[], env: Record<string, string>): string[] {
  return args.map(a => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m))
}

interface Started { child: ChildProcess, logs: Rec[] }

async function startProcess (args: string[], env: Record<string, string>, readyMessage: string): Promise<{ started: Started, line: Rec }> {
  // Only PATH from this environment: the container's environment is what the manifest gives.
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  const logs: Rec[] = []
  let buffer = ''
  const line = await new Promise<Rec>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no "${readyMessage}" within 20 s; stderr:\n${buffer}${logs.map(l => JSON.stringify(l)).join('\n')}`)) }, 20_000)
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      let i
      while ((i = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, i)
        buffer = buffer.slice(i + 1)
        try {
          const entry = JSON.parse(text) as Rec
          logs.push(entry)
          if (entry.msg === readyMessage) { clearTimeout(timer); resolve(entry) }
        } catch { /* not a log line */ }
      }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`exited with ${code}: ${buffer}${logs.map(l => JSON.stringify(l)).join('\n')}`)) })
  })
  return { started: { child, logs }, line }
}

function httpGet (address: string, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    get(`http://${address}${path}`, res => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject)
  })
}

test('the agent, run with the DaemonSet\'s args and env against the fake API server, becomes ready and answers /healthz', async () => {
  const objects = rendered()
  const ds = objects.find(o => o.kind === 'DaemonSet' && o.metadata.name === 'shadowflow-agent') as Rec
  const deployment = objects.find(o => o.kind === 'Deployment' && o.metadata.name === 'shadowflow-aggregator') as Rec
  const agentContainer = ds.spec.template.spec.containers[0] as Rec
  const aggregatorContainer = deployment.spec.template.spec.containers[0] as Rec
  const configVolume = (ds.spec.template.spec.volumes as Rec[]).find(v => v.configMap !== undefined) as Rec
  const configMap = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === configVolume.configMap.name) as Rec
  assert.ok(configMap !== undefined, 'the DaemonSet mounts the rendered ConfigMap')

  // The probes are what the kubelet will call: the debug endpoint's paths, on the pod's (= node's) loopback.
  assert.deepEqual([agentContainer.livenessProbe.httpGet.path, agentContainer.readinessProbe.httpGet.path], ['/healthz', '/readyz'])
  const probePort = agentContainer.readinessProbe.httpGet.port as number

  // The mounts: the ConfigMap's files, and the TLS Secrets (throwaway certificates with the same file names).
  mkdirSync(mountRoot, { recursive: true })
  for (const [file, text] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(mountRoot, file), remount(text))
  const certs = certificates()
  execFileSync('cp', ['-r', certs.agent, join(mountRoot, 'tls')])
  const aggregatorMount = join(dir, 'aggregator-root/etc/shadowflow')
  mkdirSync(aggregatorMount, { recursive: true })
  execFileSync('cp', ['-r', certs.aggregator, join(aggregatorMount, 'tls')])

  server = new FakeKubeApiServer(clusterResources('v3'))
  await server.start()
  server.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } })
  server.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { nodeName: 'node-1', containers: [{ name: 'web' }] }, status: { phase: 'Running', podIP: '10.0.1.1' } })
  server.apply({ apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name: 'lockdown', namespace: 'shop' }, spec: { selector: "app == 'web'", ingress: [{ action: 'Deny' }] } })
  const kubeconfig = join(dir, 'kubeconfig')
  server.writeKubeconfig(kubeconfig)

  // The aggregator as its Deployment runs it: its ConfigMap's file (listen address → port 0 on loopback).
  const aggregatorVolume = (deployment.spec.template.spec.volumes as Rec[]).find(v => v.configMap !== undefined) as Rec
  const aggregatorConfigMap = objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === aggregatorVolume.configMap.name) as Rec
  assert.ok(aggregatorConfigMap !== undefined, 'the Deployment mounts the rendered ConfigMap')
  for (const [file, text] of Object.entries(aggregatorConfigMap.data as Record<string, string>)) {
    writeFileSync(join(aggregatorMount, file), text.replaceAll('/etc/shadowflow', aggregatorMount).replace(/^listen: 0\.0\.0\.0:\d+$/m, 'listen: 127.0.0.1:0'))
  }
  const aggregatorArgs = (aggregatorContainer.args as string[]).map(a => a.replaceAll('/etc/shadowflow', aggregatorMount))
  const aggregator = await startProcess(aggregatorArgs, {}, 'aggregator listening')
  assert.equal(aggregator.line.tls, 'mtls', 'the ConfigMap\'s TLS files were read')
  const aggregatorAddress = String(aggregator.line.address)

  const env = containerEnv(agentContainer, { 'spec.nodeName': 'node-1', 'status.podIP': '127.0.0.1' })
  assert.equal(env.SHADOWFLOW_NODE_NAME, 'node-1')
  const args = [
    ...expandArgs(agentContainer.args as string[], env).map(remount),
    '--kubeconfig', kubeconfig,
    '--source', 'synthetic:4,100',
    '--aggregator', aggregatorAddress,
    '--debug-addr', '127.0.0.1:0',
    '--query-listen', '127.0.0.1:0'
  ]
  assert.ok(args.includes('--kubernetes'), 'the DaemonSet reads the cluster through the API')
  const agent = await startProcess(args, env, 'agent started')
  const debug = String(agent.line.debug)
  assert.notEqual(probePort, 0)

  const health = await httpGet(debug, '/healthz')
  assert.equal(health.status, 200)
  const deadline = Date.now() + 15_000
  let ready = await httpGet(debug, '/readyz')
  while (ready.status !== 200 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 100))
    ready = await httpGet(debug, '/readyz')
  }
  assert.equal(ready.status, 200, ready.body)
  // Policies came from the API: the staged policy is loaded.
  const status = agent.started.logs.find(l => l.msg === 'policy set loaded')
  assert.equal(status?.policies, 1)
  assert.ok(server.requests.some(r => r.path === '/api/v1/pods' && r.watch), 'pods are watched')

  // SIGTERM as the kubelet sends it ends the agent cleanly within the grace period.
  const exited = new Promise<number | null>(resolve => agent.started.child.once('exit', code => { resolve(code) }))
  const t0 = Date.now()
  agent.started.child.kill('SIGTERM')
  assert.equal(await exited, 0)
  assert.ok(Date.now() - t0 < (ds.spec.template.spec.terminationGracePeriodSeconds as number) * 1000)
})
