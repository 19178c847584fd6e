// `shadowflow validate` and `shadowflow promote` through the real dispatcher, with captured streams: what a user
// sees on stdout/stderr and the exit code, on the shop example and on a broken copy of it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { runCli } from '../../agent/src/cli/main.js'
import { COMMANDS } from '../../agent/src/cli/commands/index.js'
import { promoteCommand } from '../../agent/src/cli/commands/promote.js'
import { validateCommand } from '../../agent/src/cli/commands/validate.js'

function repoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'examples'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('repository root not found')
    dir = up
  }
  return dir
}

const SHOP = join(repoRoot(), 'examples', 'shop')
const DELETE_LINE = 'kubectl delete networkpolicies.projectcalico.org default.allow-toolbox-debug -n database'

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

/** 1-based line of the first line of `text` containing `needle`. */
function lineOf (text: string, needle: string): number {
  const index = text.split('\n').findIndex(line => line.includes(needle))
  assert.ok(index >= 0, `"${needle}" not found`)
  return index + 1
}

/** A copy of the shop with a typo in a kind (policies.yaml) and an invalid CIDR (staged.yaml). */
function brokenShop (): { dir: string, kindLine: number, cidrLine: number, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'shadowflow-shop-'))
  cpSync(SHOP, dir, { recursive: true })
  const policies = join(dir, 'policies.yaml')
  const policiesText = readFileSync(policies, 'utf8').replace('kind: GlobalNetworkPolicy', 'kind: GlobalNetworkPolcy')
  writeFileSync(policies, policiesText)
  const staged = join(dir, 'staged.yaml')
  const stagedText = readFileSync(staged, 'utf8').replace('cidr: 10.0.0.0/24', 'cidr: 10.0.0.0/33')
  writeFileSync(staged, stagedText)
  return {
    dir,
    kindLine: lineOf(policiesText, 'kind: GlobalNetworkPolcy'),
    cidrLine: lineOf(stagedText, 'cidr: 10.0.0.0/33'),
    cleanup: () => rmSync(dir, { recursive: true, force: true })
  }
}

test('validate and promote are registered with the dispatcher', () => {
  assert.ok(COMMANDS.includes(validateCommand), 'validateCommand is missing from agent/src/cli/commands/index.ts')
  assert.ok(COMMANDS.includes(promoteCommand), 'promoteCommand is missing from agent/src/cli/commands/index.ts')
})

test('validate: the shop example is valid', async () => {
  const run = await cli(['validate', '-f', SHOP])
  assert.equal(run.stderr, '')
  // 3 namespaces, 2 service accounts, 2 services, 7 pods, 1 tier, 6 enforced and 4 staged policies.
  assert.equal(run.stdout, '25 resources OK\n')
  assert.equal(run.code, 0)
})

test('validate: a kind typo and a bad CIDR are both listed with file:line, and the exit code is 1', async () => {
  const broken = brokenShop()
  try {
    const run = await cli(['validate', '-f', broken.dir])
    const lines = run.stdout.trimEnd().split('\n')
    assert.equal(lines.length, 3, run.stdout)
    const kindError = lines.find(l => l.startsWith(`${join(broken.dir, 'policies.yaml')}:${broken.kindLine}: `))
    const cidrError = lines.find(l => l.startsWith(`${join(broken.dir, 'staged.yaml')}:${broken.cidrLine}: `))
    assert.ok(kindError !== undefined, `no error at policies.yaml:${broken.kindLine} in:\n${run.stdout}`)
    assert.ok(cidrError !== undefined, `no error at staged.yaml:${broken.cidrLine} in:\n${run.stdout}`)
    assert.match(kindError, /GlobalNetworkPolcy.* \[ERR_RESOURCE_INVALID\]$/)
    assert.match(cidrError, /spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: .* \[ERR_RESOURCE_INVALID\]$/)
    assert.equal(lines[2], '2 errors in 2 files')
    assert.equal(run.code, 1)
  } finally {
    broken.cleanup()
  }
})

test('validate: reads standard input with -f -, and needs at least one -f', async () => {
  const run = await cli(['validate', '-f', '-'], readFileSync(join(SHOP, 'staged.yaml'), 'utf8'))
  assert.equal(run.stdout, '4 resources OK\n')
  assert.equal(run.code, 0)
  const usage = await cli(['validate'])
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /at least one -f PATH \[ERR_USAGE\]/)
  const stray = await cli(['validate', SHOP])
  assert.equal(stray.code, 2)
  assert.match(stray.stderr, /did you mean -f /)
})

test('promote: YAML of the enforced policies on stdout, the kubectl delete line on stderr', async () => {
  const run = await cli(['promote', '-f', join(SHOP, 'staged.yaml')])
  assert.equal(run.code, 0)
  const documents = parseAllDocuments(run.stdout).map(d => d.toJS() as { apiVersion: string, kind: string, metadata: { name: string, namespace?: string } })
  assert.deepEqual(documents.map(d => `${d.apiVersion} ${d.kind} ${d.metadata.namespace ?? '-'}/${d.metadata.name}`), [
    'projectcalico.org/v3 GlobalNetworkPolicy -/default.allow-tcp-6379',
    'projectcalico.org/v3 NetworkPolicy database/default.allow-tcp-6379',
    'networking.k8s.io/v1 NetworkPolicy database/test-network-policy'
  ])
  assert.doesNotMatch(run.stdout, /kubectl|stagedAction|shadowflow/)
  assert.ok(run.stderr.split('\n').includes(DELETE_LINE), run.stderr)
  assert.match(run.stderr, /stagedAction: Delete/)
})

test('promote on the whole example skips the non-staged resources and says so', async () => {
  const run = await cli(['promote', '-f', SHOP])
  assert.equal(run.code, 0)
  assert.equal(parseAllDocuments(run.stdout).length, 3)
  assert.match(run.stderr, /promoted 4 staged policies: 3 to apply, 1 to delete/)
  assert.match(run.stderr, /skipped 21 resources that are not staged policies/)
})

test('promote --output commands prints only the delete lines; --output json a v1 List', async () => {
  const commands = await cli(['promote', '-f', join(SHOP, 'staged.yaml'), '--output', 'commands'])
  assert.equal(commands.code, 0)
  assert.equal(commands.stdout, `${DELETE_LINE}\n`)
  const json = await cli(['promote', '-f', join(SHOP, 'staged.yaml'), '-o', 'json'])
  assert.equal(json.code, 0)
  const list = JSON.parse(json.stdout) as { kind: string, items: Array<{ kind: string }> }
  assert.equal(list.kind, 'List')
  assert.deepEqual(list.items.map(i => i.kind), ['GlobalNetworkPolicy', 'NetworkPolicy', 'NetworkPolicy'])
  const bad = await cli(['promote', '-f', SHOP, '--output', 'xml'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--output must be one of yaml, json, commands/)
})

test('promote --name selects by NAME or NAMESPACE/NAME and refuses names of non-staged resources', async () => {
  const both = await cli(['promote', '-f', SHOP, '--name', 'default.allow-tcp-6379'])
  assert.equal(both.code, 0)
  assert.deepEqual(parseAllDocuments(both.stdout).map(d => (d.toJS() as { kind: string }).kind), ['GlobalNetworkPolicy', 'NetworkPolicy'])
  assert.doesNotMatch(both.stderr, /kubectl delete/)

  const one = await cli(['promote', '-f', SHOP, '--name', 'database/default.allow-tcp-6379'])
  assert.equal(one.code, 0)
  assert.deepEqual(parseAllDocuments(one.stdout).map(d => (d.toJS() as { kind: string }).kind), ['NetworkPolicy'])

  const enforced = await cli(['promote', '-f', SHOP, '--name', 'default-deny-ingress'])
  assert.equal(enforced.code, 2)
  assert.equal(enforced.stdout, '')
  assert.match(enforced.stderr, /matches no staged policy, only NetworkPolicy database\/default-deny-ingress/)

  const unknown = await cli(['promote', '-f', SHOP, '--name', 'nope'])
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /staged policies: default\.allow-tcp-6379, database\/default\.allow-tcp-6379/)
})

test('promote refuses invalid input: every error on stderr, nothing on stdout, exit 2', async () => {
  const broken = brokenShop()
  try {
    const run = await cli(['promote', '-f', broken.dir])
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    assert.ok(run.stderr.includes(`${join(broken.dir, 'policies.yaml')}:${broken.kindLine}: `), run.stderr)
    assert.ok(run.stderr.includes(`${join(broken.dir, 'staged.yaml')}:${broken.cidrLine}: `), run.stderr)
    assert.match(run.stderr, /nothing promoted: 2 errors in the input/)
  } finally {
    broken.cleanup()
  }
})
