#!/usr/bin/env node
// Runs benchmarks by name, one after another, each in its own node process (so one benchmark's heap, JIT state
// and caches never colour the next), with its stdout passed through: `npm run bench -- policy` runs
// dist/test/bench/policy.bench.js; no argument runs every *.bench.js there. Build first (`npx tsc -p .`).
// Exits non-zero when a benchmark fails or a name is unknown (listing the names that exist).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const benchDir = join(root, 'dist', 'test', 'bench')
const SUFFIX = '.bench.js'

const available = existsSync(benchDir)
  ? readdirSync(benchDir).filter(f => f.endsWith(SUFFIX)).map(f => f.slice(0, -SUFFIX.length)).sort()
  : []

if (available.length === 0) {
  process.stderr.write(`bench: no benchmarks in ${benchDir}; build first: npx tsc -p .\n`)
  process.exit(1)
}

// Accept `policy`, `policy.bench`, `policy.bench.ts` or a path to either, as people type them.
const requested = process.argv.slice(2).map(a => a.replace(/^.*\//, '').replace(/\.(ts|js)$/, '').replace(/\.bench$/, ''))
const unknown = requested.filter(name => !available.includes(name))
if (unknown.length > 0) {
  process.stderr.write(`bench: no benchmark named ${unknown.map(n => `"${n}"`).join(', ')}; available: ${available.join(', ')}\n`)
  process.exit(2)
}

let failed = 0
for (const name of requested.length > 0 ? requested : available) {
  process.stderr.write(`bench: ${name}\n`)
  const result = spawnSync(process.execPath, [join(benchDir, `${name}${SUFFIX}`)], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.error !== undefined) {
    process.stderr.write(`bench: ${name} could not start: ${result.error.message}\n`)
    failed++
  } else if (result.status !== 0) {
    process.stderr.write(`bench: ${name} failed (${result.signal ?? `exit code ${result.status}`})\n`)
    failed++
  }
}
process.exit(failed > 0 ? 1 : 0)
