// The debug HTTP server's edges on a real socket: methods, bodies, long targets, unknown paths, readiness 503,
// text vs JSON negotiation.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { DebugServer, MAX_URL_BYTES, type ReadinessCheck } from '../../agent/src/agent/debug-server.js'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { PolicyEngine } from '../../agent/src/policy/policy-engine.js'
import { silentLogger } from '../../agent/src/telemetry/logger.js'

let checks: ReadinessCheck[] = []
const directory = new InventoryDirectory([])
const server = new DebugServer({
  readiness: () => checks,
  metricsText: async () => 'x_total 1\n',
  engine: () => new PolicyEngine(directory),
  directory: () => directory,
  isLocal: () => true,
  flowLogs: () => [],
  rawFlows: () => [],
  config: () => ({ nodeName: 'n' }),
  logger: silentLogger()
})
let base = ''
before(async () => { const a = await server.listen('127.0.0.1', 0); base = `http://127.0.0.1:${a.port}` })
after(async () => { await server.close() })

async function call (method: string, path: string, options: { body?: string, headers?: Record<string, string> } = {}): Promise<{ status: number, body: string, type: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: options.headers }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }) })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('debug HTTP server', () => {
  test('readiness is 503 until every check passes; text on request', async () => {
    checks = [{ name: 'tap', ok: true, detail: 'open' }, { name: 'policies', ok: false, detail: 'not loaded' }]
    const notReady = await call('GET', '/readyz')
    assert.equal(notReady.status, 503)
    assert.equal((JSON.parse(notReady.body) as { ready: boolean }).ready, false)
    const text = await call('GET', '/readyz', { headers: { accept: 'text/plain' } })
    assert.match(text.body, /^not ready\n\[\+\] tap: open\n\[-\] policies: not loaded/)
    checks = [{ name: 'tap', ok: true, detail: 'open' }]
    assert.equal((await call('GET', '/readyz')).status, 200)
  })

  test('only GET/HEAD, no bodies, bounded targets, JSON 404', async () => {
    assert.equal((await call('POST', '/healthz')).status, 405)
    assert.equal((await call('GET', '/healthz', { body: 'x', headers: { 'content-length': '1' } })).status, 413)
    assert.equal((await call('GET', `/debug/flows?namespace=${'a'.repeat(MAX_URL_BYTES)}`)).status, 414)
    const missing = await call('GET', '/debug/nothing')
    assert.equal(missing.status, 404)
    assert.match(missing.type, /application\/json/)
    assert.match((JSON.parse(missing.body) as { error: string }).error, /no such path/)
    const head = await call('HEAD', '/healthz')
    assert.equal(head.status, 200)
    assert.equal(head.body, '')
  })

  test('bad query parameters are 400 with the reason', async () => {
    const bad = await call('GET', '/debug/flows?action=maybe')
    assert.equal(bad.status, 400)
    assert.match(bad.body, /action must be Allow or Deny/)
    assert.equal((await call('GET', '/debug/flows?port=99999')).status, 400)
    assert.equal((await call('GET', '/healthz?format=xml')).status, 400)
  })

  test('metrics are Prometheus text', async () => {
    const m = await call('GET', '/metrics')
    assert.equal(m.body, 'x_total 1\n')
    assert.match(m.type, /text\/plain/)
  })
})
