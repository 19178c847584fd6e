// Agent configuration: layering (defaults → file → env → flags), every problem at once with file:line and
// "did you mean", frozen result, redaction.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { CONFIG_FIELDS, envName, loadAgentConfig, redactConfig } from '../../agent/src/config/agent-config.js'
import { ConfigInvalidError } from '../../agent/src/errors.js'
import { tapSourceOptions } from '../../agent/src/agent/tap-options.js'
import { agentCommand } from '../../agent/src/cli/commands/agent.js'
import { PassThrough } from 'node:stream'

const dir = mkdtempSync(join(tmpdir(), 'shadowflow-config-'))
function file (name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const REQUIRED = { source: 'synthetic:10,0', filenames: ['cluster.yaml'] } as const

async function problems (sources: Parameters<typeof loadAgentConfig>[0]): Promise<string> {
  try {
    await loadAgentConfig(sources)
  } catch (error) {
    assert.ok(error instanceof ConfigInvalidError)
    assert.equal(error.code, 'ERR_CONFIG_INVALID')
    return error.message
  }
  assert.fail('expected ERR_CONFIG_INVALID')
}

describe('agent config', () => {
  test('defaults fill everything but the required keys; the result is frozen', async () => {
    const config = await loadAgentConfig({ flags: { ...REQUIRED } })
    assert.equal(config.debugAddr, '127.0.0.1:9099')
    assert.equal(config.intervalSeconds, 15)
    assert.equal(config.stagedMode, 'calico')
    assert.equal(config.aggregator, '')
    assert.deepEqual(config.filenames, ['cluster.yaml'])
    assert.ok(Object.isFrozen(config))
    assert.throws(() => { (config as { intervalSeconds: number }).intervalSeconds = 30 }, TypeError)
  })

  test('tap settings: each source kind gets the options it takes; a capture filter needs a pcap: source', async () => {
    const defaults = await loadAgentConfig({ flags: { ...REQUIRED } })
    assert.deepEqual([defaults.sourceFilter, defaults.flowIdleTimeoutSeconds, defaults.flowActiveTimeoutSeconds, defaults.flowTableSize], ['', 60, 15, 262144])
    assert.deepEqual(tapSourceOptions(defaults), {}, 'synthetic sources have no flow table')
    const pcap = await loadAgentConfig({
      flags: { ...REQUIRED, source: 'pcap:cali*', flowIdleTimeoutSeconds: '5' },
      env: { SHADOWFLOW_SOURCE_FILTER: 'tcp port 443', SHADOWFLOW_FLOW_TABLE_SIZE: '1000', SHADOWFLOW_FLOW_ACTIVE_TIMEOUT_SECONDS: '0' }
    })
    assert.deepEqual(tapSourceOptions(pcap), { idleTimeoutMs: 5000, activeTimeoutMs: 0, maxFlows: 1000, filter: 'tcp port 443' })
    const ebpf = await loadAgentConfig({ flags: { ...REQUIRED, source: 'ebpf:cali*', sourceFallback: 'pcap' } })
    assert.deepEqual(tapSourceOptions(ebpf), { idleTimeoutMs: 60_000, activeTimeoutMs: 15_000, maxFlows: 262144, fallback: 'pcap', attach: 'auto' })
    const file = await loadAgentConfig({ flags: { ...REQUIRED, source: 'pcap-file:x.pcap' } })
    assert.equal('filter' in tapSourceOptions(file), false)
    assert.match(await problems({ flags: { ...REQUIRED, source: 'ebpf:cali*', sourceFilter: 'icmp' } }), /sourceFilter: only pcap: sources take a capture filter, not 'ebpf:cali\*'/)
    assert.match(await problems({ flags: { ...REQUIRED, flowIdleTimeoutSeconds: '0' } }), /--flow-idle-timeout/)
  })

  test('flags override env, env overrides the file, the file overrides defaults', async () => {
    const path = file('layers.yaml', 'intervalSeconds: 30\nlogLevel: debug\nnodeName: from-file\nfilenames: [a.yaml, b.yaml]\n')
    const config = await loadAgentConfig({
      file: path,
      env: { SHADOWFLOW_LOG_LEVEL: 'warn', SHADOWFLOW_NODE_NAME: 'from-env', SHADOWFLOW_SOURCE: 'pcap:cali*', PATH: '/bin' },
      flags: { nodeName: 'from-flag' }
    })
    assert.equal(config.intervalSeconds, 30, 'file')
    assert.equal(config.logLevel, 'warn', 'env over file')
    assert.equal(config.nodeName, 'from-flag', 'flag over env')
    assert.equal(config.source, 'pcap:cali*')
    assert.deepEqual(config.filenames, ['a.yaml', 'b.yaml'])
  })

  test('SHADOWFLOW_CONFIG names the file when no flag does; list variables are comma-separated', async () => {
    const path = file('env-named.yaml', 'source: synthetic:1,0\n')
    const config = await loadAgentConfig({ env: { SHADOWFLOW_CONFIG: path, SHADOWFLOW_FILENAMES: 'x.yaml, y.yaml' } })
    assert.equal(config.source, 'synthetic:1,0')
    assert.deepEqual(config.filenames, ['x.yaml', 'y.yaml'])
  })

  test('every problem of every layer is reported at once, with file:line and did-you-mean', async () => {
    const path = file('bad.yaml', 'nodeName: n1\nintervalSecond: 30\nexportBufferBytes: lots\n')
    const message = await problems({
      file: path,
      env: { SHADOWFLOW_DEBUG_ADR: '127.0.0.1:1', SHADOWFLOW_INTERVAL_SECONDS: '20' },
      flags: { stagedMode: 'replaced', aggregator: 'no-port', filenames: ['p.yaml'] }
    })
    assert.match(message, /bad\.yaml:2: intervalSecond: unknown key \(did you mean intervalSeconds\?\)/)
    assert.match(message, /bad\.yaml:3: exportBufferBytes: must be an integer/)
    assert.match(message, /SHADOWFLOW_DEBUG_ADR: unknown variable \(did you mean SHADOWFLOW_DEBUG_ADDR\?\)/)
    assert.match(message, /SHADOWFLOW_INTERVAL_SECONDS: must be a multiple of 15, got 20/)
    assert.match(message, /--staged-mode: must be one of calico, replace, got "replaced" \(did you mean replace\?\)/)
    assert.match(message, /--aggregator: "no-port" is not host:port/)
    assert.match(message, /source: required/)
    assert.match(message, /^7 problems/)
  })

  test('a file that is not YAML, not a map, or missing is reported with its name', async () => {
    assert.match(await problems({ file: file('syntax.yaml', 'a: [1, 2\n'), flags: { ...REQUIRED } }), /syntax\.yaml:\d+: /)
    assert.match(await problems({ file: file('list.yaml', '- 1\n'), flags: { ...REQUIRED } }), /list\.yaml:1: expected a map/)
    assert.match(await problems({ file: join(dir, 'missing.yaml'), flags: { ...REQUIRED } }), /missing\.yaml: cannot read: ENOENT/)
  })

  test('TLS certificate and key go together', async () => {
    assert.match(await problems({ flags: { ...REQUIRED, tlsCert: 'c.pem' } }), /tlsCert and tlsKey: give both or neither/)
  })

  test('booleans and numbers from text; ports checked', async () => {
    const config = await loadAgentConfig({ env: { SHADOWFLOW_WATCH_FILES: 'false', SHADOWFLOW_FLUSH_DEADLINE_SECONDS: '3' }, flags: { ...REQUIRED, queryListen: '[::1]:0' } })
    assert.equal(config.watchFiles, false)
    assert.equal(config.flushDeadlineSeconds, 3)
    assert.equal(config.queryListen, '[::1]:0')
    assert.match(await problems({ flags: { ...REQUIRED, debugAddr: '127.0.0.1:70000' } }), /port 70000 is above 65535/)
  })

  test('/debug/config redacts secrets but shows everything else', async () => {
    const config = await loadAgentConfig({ flags: { ...REQUIRED, tlsCert: 'cert.pem', tlsKey: '/secret/key.pem' } })
    const shown = redactConfig(config)
    assert.equal(shown.tlsKey, '(set)')
    assert.equal(shown.tlsCert, 'cert.pem')
    assert.ok(!JSON.stringify(shown).includes('/secret/key.pem'))
  })

  test('every key has a distinct flag and environment variable', () => {
    assert.equal(new Set(CONFIG_FIELDS.map(f => f.flag)).size, CONFIG_FIELDS.length)
    assert.equal(envName('exportBufferAgeSeconds'), 'SHADOWFLOW_EXPORT_BUFFER_AGE_SECONDS')
  })

  test('`shadowflow agent` leaves the aggregator\'s variables alone (one environment may configure both) and rejects unknown ones', async () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: new PassThrough(), isTty: false }
    const saved = { ...process.env }
    try {
      process.env.SHADOWFLOW_RETENTION = '1h'
      process.env.SHADOWFLOW_MAX_FLOWS = '10'
      process.env.SHADOWFLOW_SORCE = 'pcap:eth0'
      // No -f: the run stops at the configuration, listing every problem.
      await assert.rejects(agentCommand.run(['--source', 'synthetic:1,0'], io), (error: Error) => {
        assert.match(error.message, /^2 problems/)
        assert.match(error.message, /SHADOWFLOW_SORCE: unknown variable \(did you mean SHADOWFLOW_SOURCE\?\)/)
        assert.match(error.message, /filenames: required/)
        return true
      })
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) Reflect.deleteProperty(process.env, name)
    }
  })
})
