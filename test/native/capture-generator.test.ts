// The replay benchmark's generated capture is what the benchmark claims: the tap sees exactly the packets,
// flows, connections and IP bytes the generator says it wrote.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { generateCapture } from '../bench/capture-generator.js'
import { collect, finalRecords } from './helpers/collect.js'

test('the benchmark capture generator writes the flows it reports', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'shadowflow-gen-')), 'small.pcap')
  const info = generateCapture(path, 4 << 20, 200, 3)
  const { records, stats, error } = await collect(`pcap-file:${path}`)
  assert.equal(error, undefined)
  assert.equal(stats.packets, info.packets)
  assert.equal(stats.parsed, info.packets)
  assert.equal(stats.flowsCreated, info.tcpFlows + info.udpFlows)
  assert.equal(stats.connectionsStarted, info.tcpFlows)
  assert.equal(stats.connectionsCompleted, info.tcpFlows)
  const ends = finalRecords(records)
  assert.equal(ends.length, info.tcpFlows + info.udpFlows)
  assert.equal(ends.reduce((sum, r) => sum + r.bytesFwd + r.bytesRev, 0), info.ipBytes)
  assert.ok(info.bytes >= 4 << 20)
})
