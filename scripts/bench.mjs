// Runs benchmarks one at a time: `npm run bench -- tap` runs dist/test/bench/tap.bench.js; with no names, every
// *.bench.js there. Each benchmark prints one JSON object per line; stdout is passed through untouched.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, 'dist', 'test', 'bench')
const names = process.argv.slice(2)
const all = existsSync(dir) ? readdirSync(dir).filter(f => f.endsWith('.bench.js')).map(f => f.slice(0, -'.bench.js'.length)).sort() : []
const selected = names.length > 0 ? names : all
if (selected.length === 0) {
  console.error(`no benchmarks found in ${dir}; run \`npx tsc -p .\` first`)
  process.exit(1)
}
let failed = 0
for (const name of selected) {
  const file = join(dir, `${name}.bench.js`)
  if (!existsSync(file)) {
    console.error(`no benchmark '${name}' (looked for ${file}); available: ${all.join(', ') || 'none'}`)
    failed++
    continue
  }
  const run = spawnSync(process.execPath, ['--expose-gc', file], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root })
  if (run.status !== 0) {
    console.error(`benchmark '${name}' exited with ${run.status ?? run.signal}`)
    failed++
  }
}
process.exit(failed === 0 ? 0 : 1)
