// The configuration files shipped in deploy/ (the ConfigMaps' contents, base and overlays) load without a
// problem through the same loaders the commands use: a misspelled key there would stop every pod at start-up.
import assert from 'node:assert/strict'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadAgentConfig } from '../../agent/src/config/agent-config.js'
import { loadAggregatorConfig } from '../../agent/src/config/aggregator-config.js'

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url))

function filesNamed (name: string, dir = DEPLOY): string[] {
  return readdirSync(dir).flatMap(entry => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? filesNamed(name, path) : entry === name ? [path] : []
  })
}

test('every agent.yaml under deploy/ loads (with the DaemonSet\'s --kubernetes)', async () => {
  const files = filesNamed('agent.yaml')
  assert.ok(files.length >= 2, `agent.yaml files: ${files.join(', ')}`)
  for (const file of files) {
    const config = await loadAgentConfig({ file, env: {}, flags: { kubernetes: true } })
    assert.equal(config.aggregator, 'shadowflow-aggregator.shadowflow.svc:7443', file)
  }
})

test('every aggregator.yaml under deploy/ loads, TLS on', async () => {
  const files = filesNamed('aggregator.yaml')
  assert.ok(files.length >= 2, `aggregator.yaml files: ${files.join(', ')}`)
  for (const file of files) {
    const config = await loadAggregatorConfig({ file, env: {} })
    assert.notEqual(config.tlsCert, '', file)
    assert.equal(config.agentServerName, 'shadowflow-agent', file)
  }
  const example = await loadAggregatorConfig({ file: files.find(f => f.includes('overlays')) as string, env: {} })
  assert.equal(example.retention, 7200, 'the example overlay keeps two hours')
})
