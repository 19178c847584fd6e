// The agent with `--source ebpf:…` where the kernel refuses eBPF (here: CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
// dropped with setpriv): without `--source-fallback pcap` it exits 2 naming the missing capability; with it, it
// captures with libpcap and logs why. Needs root (to drop capabilities from a full set and capture on lo).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../../../bin/shadowflow.js', import.meta.url))
const shop = fileURLToPath(new URL('../../../examples/shop', import.meta.url))
const drop = ['--bounding-set=-bpf,-sys_admin,-perfmon', '--inh-caps=-bpf,-sys_admin,-perfmon']
const agentArgs = ['agent', '--node-name', 'n', '--source', 'ebpf:lo', '-f', shop, '--debug-addr', '127.0.0.1:0', '--query-listen', '127.0.0.1:0']

test('privileged: the agent refuses an ebpf source it may not load, naming the capability', () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root')
  const r = spawnSync('setpriv', [...drop, process.execPath, bin, ...agentArgs], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.status, 2, r.stderr)
  assert.match(r.stderr, /CAP_BPF/)
  assert.match(r.stderr, /ERR_EBPF_PERMISSION/)
})

test('privileged: with --source-fallback pcap the agent captures with libpcap and logs why', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root')
  const child = spawn('setpriv', [...drop, process.execPath, bin, ...agentArgs, '--source-fallback', 'pcap'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  try {
    const deadline = Date.now() + 20_000
    while (!stderr.includes('agent started') && Date.now() < deadline && child.exitCode === null) await new Promise(resolve => setTimeout(resolve, 100))
    assert.match(stderr, /agent started/, stderr)
    const warning = stderr.split('\n').find(l => l.includes('eBPF refused'))
    assert.ok(warning !== undefined, stderr)
    assert.match(warning, /ERR_EBPF_PERMISSION/)
  } finally {
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  }
})
