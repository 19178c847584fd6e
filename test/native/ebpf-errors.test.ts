// The eBPF error classification (native/src/ebpf-errors.cc) through its C++ test program: locked-down kernels,
// missing capabilities and old kernels cannot be produced on the CI machine, so the decisions are tested as plain
// functions of errno, lockdown mode, capabilities and kernel release. Compiled with the system compiler here.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../..', import.meta.url))

test('eBPF errors: lockdown, missing capabilities, unsupported kernels and attach failures map to their codes and messages', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'shadowflow-ebpf-errors-')), 'ebpf-errors-test')
  const cc = spawnSync('g++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-O1', join(root, 'native/test/ebpf-errors-test.cc'),
    join(root, 'native/src/ebpf-errors.cc'), '-o', out], { encoding: 'utf8' })
  assert.equal(cc.status, 0, `g++ failed: ${cc.stderr || cc.error?.message}`)
  const run = spawnSync(out, { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stdout)
  assert.match(run.stdout, /^(\d+) checks passed$/m)
  assert.ok(Number(/^(\d+) checks passed$/m.exec(run.stdout)?.[1]) >= 20, run.stdout)
  assert.doesNotMatch(run.stdout, /^FAIL/m)
})
