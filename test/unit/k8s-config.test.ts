// --kubernetes and --kubeconfig in the configuration layers: -f is no longer required, both sources at once are
// refused, --kubeconfig alone is refused, and the flag/env spellings work.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { agentFlagValues } from '../../agent/src/cli/commands/agent.js'
import { loadAgentConfig } from '../../agent/src/config/agent-config.js'

test('--kubernetes replaces -f', async () => {
  const { flags } = agentFlagValues(['--source', 'synthetic:1,1', '--kubernetes', '--kubeconfig', '/k'])
  const config = await loadAgentConfig({ flags, env: {} })
  assert.equal(config.kubernetes, true)
  assert.equal(config.kubeconfig, '/k')
  assert.deepEqual(config.filenames, [])
})

test('SHADOWFLOW_KUBERNETES and SHADOWFLOW_KUBECONFIG', async () => {
  const config = await loadAgentConfig({ env: { SHADOWFLOW_SOURCE: 'synthetic:1,1', SHADOWFLOW_KUBERNETES: 'true', SHADOWFLOW_KUBECONFIG: '/k' } })
  assert.equal(config.kubernetes, true)
  assert.equal(config.kubeconfig, '/k')
})

test('-f and --kubernetes together, or --kubeconfig without --kubernetes, are configuration errors', async () => {
  await assert.rejects(loadAgentConfig({ flags: { source: 'synthetic:1,1', kubernetes: true, filenames: ['a.yaml'] }, env: {} }), /give one of them/)
  await assert.rejects(loadAgentConfig({ flags: { source: 'synthetic:1,1', filenames: ['a.yaml'], kubeconfig: '/k' }, env: {} }), /only used with --kubernetes/)
  await assert.rejects(loadAgentConfig({ flags: { source: 'synthetic:1,1' }, env: {} }), /filenames: required/)
})

test('booleans that default to true keep their --no- flag', () => {
  assert.equal(agentFlagValues(['--no-watch']).flags.watchFiles, false)
  assert.equal(agentFlagValues([]).flags.kubernetes, undefined)
})
