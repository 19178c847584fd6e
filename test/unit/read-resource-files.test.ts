// readResourceFiles: files, directories (recursive, sorted, only resource extensions), stdin, unreadable paths and
// duplicate identities, against real files in a temporary directory.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { spawnSync } from 'node:child_process'
import { ResourceFileError, ResourceInvalidError } from '../../agent/src/errors.js'
import { readResourceFiles } from '../../agent/src/io/read-resource-files.js'

let dir = ''
const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`
const np = (name: string, order: number, tier?: string): string =>
  `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  order: ${order}\n${tier === undefined ? '' : `  tier: ${tier}\n`}`

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'read-resource-files-'))
  mkdirSync(join(dir, 'tree', 'b-sub'), { recursive: true })
  mkdirSync(join(dir, 'tree', '.hidden'))
  writeFileSync(join(dir, 'tree', 'c.yaml'), ns('c'))
  writeFileSync(join(dir, 'tree', 'a.yml'), ns('a'))
  writeFileSync(join(dir, 'tree', 'b-sub', 'b.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } }))
  writeFileSync(join(dir, 'tree', 'notes.txt'), 'not a manifest')
  writeFileSync(join(dir, 'tree', '.hidden', 'x.yaml'), ns('hidden'))
  symlinkSync(join(dir, 'tree'), join(dir, 'tree', 'b-sub', 'loop'))
  mkdirSync(join(dir, 'empty'))
})

after(() => rmSync(dir, { recursive: true, force: true }))

const names = (r: Awaited<ReturnType<typeof readResourceFiles>>): string[] => r.resources.map(l => l.resource.metadata.name)

test('a directory is read recursively, sorted, only .yaml/.yml/.json, hidden entries and link loops skipped', async () => {
  const r = await readResourceFiles([join(dir, 'tree')])
  assert.deepEqual(r.errors.map(e => e.describe()), [])
  assert.deepEqual(names(r), ['a', 'b', 'c'])
  assert.deepEqual(r.resources.map(l => [l.origin.file, l.origin.line]), [
    [join(dir, 'tree', 'a.yml'), 1], [join(dir, 'tree', 'b-sub', 'b.json'), 1], [join(dir, 'tree', 'c.yaml'), 1]
  ])
})

test('a file named explicitly is read whatever its extension', async () => {
  const r = await readResourceFiles([join(dir, 'tree', '.hidden', 'x.yaml')])
  assert.deepEqual(names(r), ['hidden'])
})

test('"-" reads standard input, reported as file "-"', async () => {
  const r = await readResourceFiles(['-'], Readable.from([Buffer.from(ns('from-stdin') + '---\n'), 'apiVersion: v1\nkind: Namespacee\nmetadata: {name: x}\n']))
  assert.deepEqual(names(r), ['from-stdin'])
  assert.deepEqual(r.errors.map(e => e.describe()), ['-:7: kind: unknown kind "Namespacee" (did you mean "Namespace"?)'])
})

test('a missing path is a ResourceFileError naming the path and ENOENT; other paths still load', async () => {
  const missing = join(dir, 'nope.yaml')
  const r = await readResourceFiles([missing, join(dir, 'tree', 'a.yml')])
  assert.deepEqual(names(r), ['a'])
  assert.equal(r.errors.length, 1)
  assert.ok(r.errors[0] instanceof ResourceFileError)
  assert.equal(r.errors[0].describe(), `${missing}: cannot read: ENOENT (no such file or directory)`)
})

test('an unreadable file is a ResourceFileError with EACCES', async () => {
  const locked = join(dir, 'locked.yaml')
  writeFileSync(locked, ns('locked'))
  chmodSync(locked, 0o000)
  if (process.getuid?.() !== 0) {
    const r = await readResourceFiles([locked])
    assert.equal(r.errors[0]?.describe(), `${locked}: cannot read: EACCES (permission denied)`)
    return
  }
  // Root reads every file through CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: run the reader as root without those
  // two capabilities (setpriv drops them from the bounding set), so the file's mode applies while the
  // checkout, wherever it is, stays readable to the child.
  const reader = new URL('../../agent/src/io/read-resource-files.js', import.meta.url).href
  const script = `import { readResourceFiles } from ${JSON.stringify(reader)}
const r = await readResourceFiles([${JSON.stringify(locked)}])
process.stdout.write(r.errors.map(e => e.describe()).join('\\n'))`
  const child = spawnSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout, `${locked}: cannot read: EACCES (permission denied)`)
})

test('a directory without resource files is an error, as is an empty file', async () => {
  const emptyFile = join(dir, 'empty.yaml')
  writeFileSync(emptyFile, '')
  const r = await readResourceFiles([join(dir, 'empty'), emptyFile])
  assert.deepEqual(r.errors.map(e => e.describe()), [
    `${join(dir, 'empty')}: no .yaml, .yml or .json files in directory`,
    `${emptyFile}: no resources in file`
  ])
})

test('binary files give one clear error', async () => {
  const binary = join(dir, 'image.yaml')
  writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]))
  const r = await readResourceFiles([binary])
  assert.deepEqual(r.errors.map(e => e.describe()), [`${binary}: not a text file (it contains NUL bytes); expected YAML or JSON`])
})

test('two different resources with one identity are reported with both locations', async () => {
  const one = join(dir, 'one.yaml')
  const two = join(dir, 'two.yaml')
  writeFileSync(one, np('allow', 1))
  // Same policy: "default.allow" is how Calico names "allow" in tier default.
  writeFileSync(two, ns('unrelated') + '---\n' + np('default.allow', 2, 'default'))
  const r = await readResourceFiles([one, two])
  assert.deepEqual(names(r), ['allow', 'unrelated'])
  assert.equal(r.errors.length, 1)
  assert.ok(r.errors[0] instanceof ResourceInvalidError)
  assert.equal(r.errors[0].describe(), `${two}:9: metadata.name: duplicate NetworkPolicy shop/default.allow: also defined at ${one}:4`)
})

test('the same resource twice (identical content) is loaded once without error', async () => {
  const file = join(dir, 'twice.yaml')
  writeFileSync(file, ns('same') + '---\n' + ns('same'))
  const r = await readResourceFiles([file, file])
  assert.deepEqual(r.errors, [])
  assert.deepEqual(names(r), ['same'])
})

test('a Calico and a Kubernetes NetworkPolicy of the same name are different resources', async () => {
  const file = join(dir, 'both.yaml')
  writeFileSync(file, np('web', 1) + '---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec: {podSelector: {}}\n')
  const r = await readResourceFiles([file])
  assert.deepEqual(r.errors, [])
  assert.equal(r.resources.length, 2)
})
