// Per-instance addon state and the cleanup hook: the addon loads in worker threads, and a process or worker
// that exits mid-capture shuts its taps down (workers joined) instead of crashing or hanging.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

const sourceModule = new URL('../../agent/src/tap/native-tap-source.js', import.meta.url).href

test('the addon works in worker threads alongside the main thread', async () => {
  const script = `
    import { parentPort } from 'node:worker_threads'
    const { openTapSource } = await import(${JSON.stringify(sourceModule)})
    let n = 0
    for await (const b of openTapSource('synthetic:100,0', { limit: 20000 })) n += b.count
    parentPort.postMessage(n)`
  const run = (): Promise<number> => new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(script)}`))
    w.once('message', resolve)
    w.once('error', reject)
  })
  const { openTapSource } = await import(sourceModule) as typeof import('../../agent/src/tap/native-tap-source.js')
  let main = 0
  const mainRun = (async () => { for await (const b of openTapSource('synthetic:100,0', { limit: 30000 })) main += b.count })()
  const [a, b] = await Promise.all([run(), run(), mainRun])
  assert.deepEqual([a, b, main], [20000, 20000, 30000])
})

test('a worker terminated mid-capture closes its tap', async () => {
  const script = `
    const { openTapSource } = await import(${JSON.stringify(sourceModule)})
    const s = openTapSource('synthetic:1000,0')
    s.start()
    setInterval(() => {}, 1000)`
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(script)}`))
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(await w.terminate(), 1)
})

test('process.exit() mid-capture exits cleanly (the cleanup hook joins the worker threads)', () => {
  const script = `import(${JSON.stringify(sourceModule)}).then(m => {
    const s = m.openTapSource('synthetic:1000,0'); s.start()
    const f = m.openTapSource('synthetic:10,1000'); f.start()
    setTimeout(() => process.exit(7), 200) })`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 7, r.stderr)
})

test('without a built addon the loader says exactly what to run (ERR_ADDON_MISSING)', async () => {
  const { cpSync, mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'shadowflow-noaddon-'))
  cpSync(new URL('../../agent', import.meta.url), join(dir, 'dist', 'agent'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shadowflow', type: 'module' }))
  const script = `import(${JSON.stringify(join(dir, 'dist/agent/src/tap/native-tap-source.js'))}).then(m => {
    try { m.openTapSource('synthetic:1,1') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) } })`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  const out = JSON.parse(r.stdout.trim()) as { code: string, message: string }
  assert.equal(out.code, 'ERR_ADDON_MISSING')
  assert.match(out.message, /npm run build:native/)
  assert.match(out.message, /install-system-deps\.sh/)
})
