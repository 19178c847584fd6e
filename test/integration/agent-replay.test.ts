// `shadowflow replay`: the agent pipeline over a capture into the in-process store, then the impact report.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, test } from 'node:test'
import { replayCommand } from '../../agent/src/cli/commands/replay.js'
import { ACK, ethernet, FIN, ipv4, SYN, tcp } from '../native/helpers/packet-builder.js'
import { LINKTYPE, pcapBytes, type CapturedPacket } from '../native/helpers/pcap-writer.js'

const dir = mkdtempSync(join(tmpdir(), 'shadowflow-replay-'))
const CLUSTER = `
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: shop, labels: { app: web } }
spec: { nodeName: node-a, containers: [{ name: web }] }
status: { podIP: 10.0.1.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: redis-0, namespace: db, labels: { app: redis } }
spec: { nodeName: node-b, containers: [{ name: redis }] }
status: { podIP: 10.0.2.1 }
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: lockdown, namespace: db }
spec:
  selector: app == 'redis'
  ingress: [{ action: Deny }]
`
writeFileSync(join(dir, 'cluster.yaml'), CLUSTER)

const T0 = 1_700_000_000_000_000_000n
function packets (client: string, server: string, cport: number, startMs: number): CapturedPacket[] {
  const at = (ms: number, data: Buffer): CapturedPacket => ({ tsNs: T0 + BigInt(startMs + ms) * 1_000_000n, data })
  return [
    at(0, ethernet(ipv4(client, server, tcp(cport, 6379, SYN)))),
    at(1, ethernet(ipv4(server, client, tcp(6379, cport, SYN | ACK)))),
    at(2, ethernet(ipv4(client, server, tcp(cport, 6379, FIN | ACK)))),
    at(3, ethernet(ipv4(server, client, tcp(6379, cport, FIN | ACK)))),
    at(4, ethernet(ipv4(client, server, tcp(cport, 6379, ACK))))
  ]
}
const capture = join(dir, 'c.pcap')
writeFileSync(capture, pcapBytes(LINKTYPE.ETHERNET, [...packets('10.0.1.1', '10.0.2.1', 40001, 0), ...packets('10.0.1.1', '10.0.2.1', 40002, 30_000)]))

async function run (args: string[]): Promise<{ code: number, out: string }> {
  const stdout = new PassThrough()
  let out = ''
  stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await replayCommand.run(args, { stdout, stderr: new PassThrough(), stdin: new PassThrough(), isTty: false })
  return { code, out }
}

describe('replay', () => {
  test('reports both ends of every flow and what the staged policy would deny', async () => {
    const { code, out } = await run(['--pcap', capture, '-f', dir])
    assert.equal(code, 0)
    // Pods on two different nodes: replay treats both as local, so the flow appears from both ends (2 keys).
    assert.match(out, /2 flows \(per key and reporter\), 4 connections/)
    assert.match(out, /1 flow would change \(2 connections\): 1 newly denied, 0 newly allowed/)
    assert.match(out, /db\/lockdown\s+StagedNetworkPolicy\s+default\s+1\s+1\s+0\s+2/)
    assert.match(out, /shop\/web-1\s+db\/redis-0\s+6379\/tcp\s+Dst\s+Allow\s+Deny\s+db\/lockdown/)
  })

  test('--json prints one proto3-JSON goldmane.Flow per line', async () => {
    const { out } = await run(['--pcap', capture, '-f', dir, '--json'])
    const flows = out.trim().split('\n').map(l => JSON.parse(l) as { Key: { reporter: string, destPort: string }, numConnectionsStarted: string, packetsIn?: string })
    assert.deepEqual(flows.map(f => f.Key.reporter).sort(), ['Dst', 'Src'])
    // proto3 JSON: int64 as strings.
    assert.ok(flows.every(f => f.Key.destPort === '6379' && f.numConnectionsStarted === '2'))
  })

  test('usage errors name the flag', async () => {
    await assert.rejects(run(['-f', dir]), /--pcap FILE/)
    await assert.rejects(run(['--pcap', capture, '-f', dir, '--interval', '10']), /multiple of 15/)
  })
})
