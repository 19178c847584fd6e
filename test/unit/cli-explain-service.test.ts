// `explain --to <Service cluster IP>` follows the Service to its backend pod (policy applies after DNAT), on the
// bundled shop example: redis's cluster IP leads to database/redis-0, whose ingress is where the verdict is made.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runCli } from '../../agent/src/cli/main.js'

const shop = fileURLToPath(new URL('../../../examples/shop', import.meta.url))

async function explainJson (to: string, port: string): Promise<{ code: number, out: { enforced: { action: string, dst: Array<{ name: string }> }, pending: { action: string } } }> {
  const stdout = new PassThrough()
  const chunks: string[] = []
  stdout.on('data', (c: Buffer) => chunks.push(c.toString()))
  const code = await runCli(['explain', '-f', shop, '--from', 'frontend/web-1', '--to', to, '--port', port, '--json'], { stdout, stderr: new PassThrough(), stdin: Readable.from(['']), isTty: false })
  return { code, out: JSON.parse(chunks.join('')) }
}

test('a Service cluster IP is evaluated on the backend pod, exactly like the pod itself', async () => {
  const viaService = await explainJson('10.96.12.34', '6379')
  const direct = await explainJson('database/redis-0', '6379')
  assert.equal(viaService.code, 0)
  assert.deepEqual(viaService.out, direct.out)
  assert.equal(viaService.out.enforced.action, 'Deny')
  assert.equal(viaService.out.pending.action, 'Allow')
  assert.ok(viaService.out.enforced.dst.length > 0, 'ingress on the backend was evaluated')
})

test('a port the Service does not expose leaves the cluster IP as an external end', async () => {
  const r = await explainJson('10.96.12.34', '80')
  assert.equal(r.code, 0)
  assert.deepEqual(r.out.enforced.dst, [])
})
