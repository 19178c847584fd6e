// The aggregator's configuration keys (the layering itself is config-layers.ts, tested through the agent's
// config and the aggregator CLI's integration test): defaults, durations, listen addresses, redaction.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { AGGREGATOR_CONFIG_FIELDS, loadAggregatorConfig, redactAggregatorConfig } from '../../agent/src/config/aggregator-config.js'
import { envName } from '../../agent/src/config/config-layers.js'

const dir = mkdtempSync(join(tmpdir(), 'shadowflow-aggregator-config-'))
function file (name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

async function problems (sources: Parameters<typeof loadAggregatorConfig>[0]): Promise<string> {
  try {
    await loadAggregatorConfig(sources)
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'ERR_CONFIG_INVALID')
    return (error as Error).message
  }
  assert.fail('expected ERR_CONFIG_INVALID')
}

test('defaults: loopback, one hour, a million flows, no TLS, no metrics; frozen', async () => {
  const config = await loadAggregatorConfig({ env: {} })
  assert.deepEqual({ ...config }, {
    listen: '127.0.0.1:7443', retention: 3600, maxFlows: 1_000_000, tlsCert: '', tlsKey: '', tlsCa: '', agentServerName: '',
    metricsAddr: '', shutdownGrace: 5, logLevel: 'info'
  })
  assert.ok(Object.isFrozen(config))
})

test('durations as text or seconds; a port alone as a YAML number; retention in whole 15 s buckets', async () => {
  const config = await loadAggregatorConfig({ file: file('ok.yaml', 'listen: 7443\nmetricsAddr: 9090\nretention: 5400\nshutdownGrace: 1m30s\n'), env: {} })
  assert.deepEqual([config.listen, config.metricsAddr, config.retention, config.shutdownGrace], ['7443', '9090', 5400, 90])
  assert.equal((await loadAggregatorConfig({ env: { SHADOWFLOW_RETENTION: '2d' } })).retention, 172800)
  const text = await problems({ file: file('bad.yaml', 'retention: 20s\nlisten: [1]\nshutdownGrace: 2h\nmetricsAddr: localhost:99999\n'), env: {} })
  assert.match(text, /bad\.yaml:1: retention: must be a multiple of 15, got 20 seconds/)
  assert.match(text, /bad\.yaml:2: listen: must be a string, got a list/)
  assert.match(text, /bad\.yaml:3: shutdownGrace: must be between 0 and 3600, got 7200 seconds/)
  assert.match(text, /bad\.yaml:4: metricsAddr: port 99999 is above 65535/)
  assert.match(await problems({ flags: { tlsKey: 'k.pem' }, env: {} }), /tlsCert and tlsKey: give both or neither/)
})

test('the key is redacted in what is logged; every key has its own flag and variable', async () => {
  const shown = redactAggregatorConfig(await loadAggregatorConfig({ flags: { tlsCert: 'c.pem', tlsKey: '/secret/k.pem' }, env: {} }))
  assert.equal(shown.tlsKey, '(set)')
  assert.equal(shown.tlsCert, 'c.pem')
  assert.equal(new Set(AGGREGATOR_CONFIG_FIELDS.map(f => f.flag)).size, AGGREGATOR_CONFIG_FIELDS.length)
  assert.equal(new Set(AGGREGATOR_CONFIG_FIELDS.map(f => envName(f.key))).size, AGGREGATOR_CONFIG_FIELDS.length)
})
