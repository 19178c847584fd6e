// `shadowflow explain` and `shadowflow matrix` through the real dispatcher with captured streams, on a small
// cluster written as YAML to a temporary directory: what a user reads (both pipelines, the differing verdict,
// the staged policy responsible), the JSON forms, batch mode with a bad line, an unknown pod, and `-n`.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { runCli } from '../../agent/src/cli/main.js'

interface Run { code: number, stdout: string, stderr: string }

async function cli (argv: string[], stdinText = ''): Promise<Run> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: string[] = []
  const err: string[] = []
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()))
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()))
  const code = await runCli(argv, { stdout, stderr, stdin: Readable.from([stdinText]), isTty: false })
  return { code, stdout: out.join(''), stderr: err.join('') }
}

const INVENTORY_YAML = `apiVersion: v1
kind: Namespace
metadata:
  name: a
---
apiVersion: v1
kind: Namespace
metadata:
  name: b
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: a
  labels:
    app: client
spec:
  containers:
    - name: main
status:
  podIP: 10.0.0.1
---
apiVersion: v1
kind: Pod
metadata:
  name: server
  namespace: a
  labels:
    app: server
spec:
  containers:
    - name: main
      ports:
        - name: http
          containerPort: 80
status:
  podIP: 10.0.0.2
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: b
  labels:
    app: db
spec:
  containers:
    - name: main
status:
  podIP: 10.0.1.2
`

// Staged: the client may no longer reach the server on port 80; everyone else still may.
const STAGED_YAML = `apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: deny-client
  namespace: a
spec:
  selector: app == 'server'
  types:
    - Ingress
  ingress:
    - action: Deny
      protocol: TCP
      source:
        selector: app == 'client'
      destination:
        ports:
          - http
    - action: Allow
`

const root = mkdtempSync(join(tmpdir(), 'shadowflow-explain-'))
const CLUSTER = join(root, 'cluster')
mkdirSync(CLUSTER)
writeFileSync(join(CLUSTER, 'inventory.yaml'), INVENTORY_YAML)
writeFileSync(join(CLUSTER, 'staged.yaml'), STAGED_YAML)
after(() => rmSync(root, { recursive: true, force: true }))

test('explain: the human output shows both pipelines, both traces and the differing verdict', async () => {
  const run = await cli(['explain', '-f', CLUSTER, '--from', 'a/client', '--to', 'a/server', '--protocol', 'TCP', '--port', '80'])
  assert.equal(run.stderr, '')
  assert.equal(run.code, 0)
  const lines = run.stdout.split('\n')
  assert.equal(lines[0], 'Flow     a/client -> a/server  TCP/80')
  const enforced = lines.indexOf('ENFORCED Allow')
  const pending = lines.indexOf('PENDING  Deny  (differs from enforced)')
  assert.ok(enforced > 0 && pending > enforced, run.stdout)
  assert.deepEqual(lines.slice(enforced + 1, enforced + 5), [
    '  egress on a/client:',
    '    1. profile kns.a: Allow',
    '  ingress on a/server:',
    '    1. profile kns.a: Allow'
  ])
  assert.deepEqual(lines.slice(pending + 1, pending + 5), [
    '  egress on a/client:',
    '    1. profile kns.a: Allow',
    '  ingress on a/server:',
    '    1. tier default: StagedNetworkPolicy a/deny-client rule 0: Deny'
  ])
  assert.ok(!run.stdout.includes('\u001b['), 'no colour when stdout is not a terminal')
})

test('explain: an unaffected flow has the same verdict in both pipelines, and an outside address is not evaluated', async () => {
  const run = await cli(['explain', '-f', CLUSTER, '--from', 'b/db', '--to', 'a/server', '--port', '80'])
  assert.equal(run.code, 0)
  assert.ok(run.stdout.includes('PENDING  Allow\n'), run.stdout)
  assert.ok(!run.stdout.includes('differs from enforced'))
  assert.ok(run.stdout.includes('1. tier default: StagedNetworkPolicy a/deny-client rule 1: Allow'), run.stdout)
  const outside = await cli(['explain', '-f', CLUSTER, '--from', '192.0.2.9', '--to', 'a/server', '--port', '443'])
  assert.equal(outside.code, 0)
  assert.ok(outside.stdout.includes('egress on 192.0.2.9: not a cluster endpoint, not evaluated'), outside.stdout)
})

test('explain --json: both verdicts with Goldmane-shaped hits', async () => {
  const run = await cli(['explain', '-f', CLUSTER, '--from', 'a/client', '--to', 'a/server', '--protocol', 'TCP', '--port', '80', '--json'])
  assert.equal(run.stderr, '')
  assert.equal(run.code, 0)
  const lines = run.stdout.trimEnd().split('\n')
  assert.equal(lines.length, 1)
  const profileHit = { kind: 'Profile', namespace: '', name: 'kns.a', tier: '__PROFILE__', action: 'Allow', policyIndex: 0, ruleIndex: 0 }
  assert.deepEqual(JSON.parse(lines[0] as string), {
    enforced: { action: 'Allow', src: [profileHit], dst: [profileHit] },
    pending: {
      action: 'Deny',
      src: [profileHit],
      dst: [{ kind: 'StagedNetworkPolicy', namespace: 'a', name: 'deny-client', tier: 'default', action: 'Deny', policyIndex: 0, ruleIndex: 0 }]
    }
  })
})

test('explain --flows: one JSON line per flow, a bad line gets an error line in its place, exit 1', async () => {
  const flows = join(root, 'flows.jsonl')
  writeFileSync(flows, [
    JSON.stringify({ from: 'a/client', to: 'a/server', protocol: 'TCP', port: 80 }),
    '{"from": "a/client", "to": ',
    JSON.stringify({ from: 'a/clinet', to: 'a/server', port: 80 }),
    JSON.stringify({ from: 'b/db', to: 'a/server', protocol: 6, port: 80 })
  ].join('\n') + '\n')
  const run = await cli(['explain', '-f', CLUSTER, '--flows', flows, '--json'])
  assert.equal(run.code, 1)
  const out = run.stdout.trimEnd().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  assert.equal(out.length, 4)
  assert.deepEqual([(out[0]?.enforced as { action: string }).action, (out[0]?.pending as { action: string }).action], ['Allow', 'Deny'])
  assert.equal(out[1]?.line, 2)
  assert.equal(out[1]?.code, 'ERR_RESOURCE_FILE')
  assert.match(String(out[1]?.error), /not a JSON object/)
  assert.equal(out[2]?.line, 3)
  assert.equal(out[2]?.code, 'ERR_UNKNOWN_ENDPOINT')
  assert.match(String(out[2]?.error), /did you mean "a\/client"/)
  assert.deepEqual([(out[3]?.enforced as { action: string }).action, (out[3]?.pending as { action: string }).action], ['Allow', 'Allow'])
})

test('explain --flows: a clean batch exits 0', async () => {
  const flows = join(root, 'clean.jsonl')
  writeFileSync(flows, JSON.stringify({ from: 'b/db', to: 'a/server', port: 80 }) + '\n')
  const run = await cli(['explain', '-f', CLUSTER, '--flows', flows, '--json'])
  assert.equal(run.code, 0)
  assert.equal(run.stdout.trimEnd().split('\n').length, 1)
})

test('explain: an unknown pod is ERR_UNKNOWN_ENDPOINT with a did-you-mean, exit 2, nothing on stdout', async () => {
  const run = await cli(['explain', '-f', CLUSTER, '--from', 'a/clinet', '--to', 'a/server', '--port', '80'])
  assert.equal(run.code, 2)
  assert.equal(run.stdout, '')
  assert.match(run.stderr, /^shadowflow explain: .*no pod "a\/clinet".*\(did you mean "a\/client"\?\).*\[ERR_UNKNOWN_ENDPOINT\]\n$/)
})

test('matrix: the human table marks the pair the staged policy newly denies and names the policy', async () => {
  const run = await cli(['matrix', '-f', CLUSTER, '--port', '80'])
  assert.equal(run.stderr, '')
  assert.equal(run.code, 0)
  assert.equal(run.stdout, [
    'Reachability TCP/80: row = from, column = to (numbered as the rows)',
    '  ✓ allowed   ✗ denied   + newly allowed by pending   - newly denied by pending   · self',
    '',
    '            1 2 3',
    '1. a/client · - ✓',
    '2. a/server ✓ · ✓',
    '3. b/db     ✓ ✓ ·',
    '',
    '1 pair change verdict between enforced and pending:',
    '  a/client -> a/server: Allow -> Deny (tier default: StagedNetworkPolicy a/deny-client rule 0: Deny)',
    ''
  ].join('\n'))
})

test('matrix --json: endpoints and both boolean matrices', async () => {
  const run = await cli(['matrix', '-f', CLUSTER, '--port', '80', '--json'])
  assert.equal(run.code, 0)
  assert.deepEqual(JSON.parse(run.stdout), {
    endpoints: ['a/client', 'a/server', 'b/db'],
    protocol: 'TCP',
    port: 80,
    enforced: [[true, true, true], [true, true, true], [true, true, true]],
    pending: [[true, false, true], [true, true, true], [true, true, true]]
  })
})

test('matrix -n: only pods of the namespaces given', async () => {
  const a = await cli(['matrix', '-f', CLUSTER, '--port', '80', '-n', 'a', '--json'])
  assert.equal(a.code, 0)
  const parsed = JSON.parse(a.stdout) as { endpoints: string[], pending: boolean[][] }
  assert.deepEqual(parsed.endpoints, ['a/client', 'a/server'])
  assert.deepEqual(parsed.pending, [[true, false], [true, true]])
  const b = await cli(['matrix', '-f', CLUSTER, '--port', '80', '-n', 'b', '--json'])
  assert.deepEqual((JSON.parse(b.stdout) as { endpoints: string[] }).endpoints, ['b/db'])
  const both = await cli(['matrix', '-f', CLUSTER, '--port', '80', '-n', 'b', '-n', 'a', '--json'])
  assert.deepEqual((JSON.parse(both.stdout) as { endpoints: string[] }).endpoints, ['a/client', 'a/server', 'b/db'])
  // On another port the named-port rule does not apply: nothing changes.
  const other = await cli(['matrix', '-f', CLUSTER, '--port', '443', '-n', 'a'])
  assert.ok(other.stdout.includes('No pair changes verdict between enforced and pending.'), other.stdout)
})
