// The exporter's buffer: receipts acknowledge in order, a reconnection resends only the unacknowledged, a new
// aggregator instance gets everything still held, bounds drop the oldest and count only real losses.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ExportBuffer } from '../../agent/src/agent/export-buffer.js'
import type { FlowLog } from '../../agent/src/flows/flow-log.js'

function log (n: number): FlowLog {
  return { startTime: n, endTime: n + 15, packetsIn: n } as unknown as FlowLog
}

function drain (buffer: ExportBuffer): number[] {
  const out: number[] = []
  for (let next = buffer.takeNext(); next !== undefined; next = buffer.takeNext()) out.push(next.log.startTime)
  return out
}

const SIZE = (): number => 100

describe('export buffer', () => {
  test('sends in order; receipts acknowledge the oldest in flight', () => {
    const b = new ExportBuffer({ maxBytes: 10_000, maxAgeMs: 60_000 }, SIZE)
    b.push([log(1), log(2), log(3)], 0)
    assert.deepEqual(drain(b), [1, 2, 3])
    assert.equal(b.acknowledge(), true)
    assert.equal(b.stats().unacknowledged, 2)
    assert.equal(b.acknowledge(), true)
    assert.equal(b.acknowledge(), true)
    assert.equal(b.acknowledge(), false, 'a receipt with nothing in flight acknowledges nothing')
    assert.equal(b.drained, true)
    assert.equal(b.stats().flowLogs, 3, 'acknowledged logs stay for a restarted aggregator')
  })

  test('a reconnection to the same aggregator resends only what was not acknowledged', () => {
    const b = new ExportBuffer({ maxBytes: 10_000, maxAgeMs: 60_000 }, SIZE)
    b.push([log(1), log(2), log(3), log(4)], 0)
    drain(b)
    b.acknowledge()
    b.acknowledge()
    b.rewind(false)
    const again = [] as Array<{ n: number, resend: boolean }>
    for (let next = b.takeNext(); next !== undefined; next = b.takeNext()) again.push({ n: next.log.startTime, resend: next.resend })
    assert.deepEqual(again, [{ n: 3, resend: true }, { n: 4, resend: true }])
    b.acknowledge()
    b.acknowledge()
    assert.equal(b.drained, true)
  })

  test('a new aggregator instance gets everything still buffered, acknowledged or not', () => {
    const b = new ExportBuffer({ maxBytes: 10_000, maxAgeMs: 60_000 }, SIZE)
    b.push([log(1), log(2), log(3)], 0)
    drain(b)
    b.acknowledge()
    b.rewind(true)
    assert.deepEqual(drain(b), [1, 2, 3])
    b.push([log(4)], 0)
    assert.deepEqual(drain(b), [4])
  })

  test('overflow drops the oldest; only unacknowledged drops are losses', () => {
    const b = new ExportBuffer({ maxBytes: 300, maxAgeMs: 60_000 }, SIZE)
    b.push([log(1), log(2), log(3)], 0)
    drain(b)
    b.acknowledge() // 1 acknowledged
    b.push([log(4), log(5)], 0) // 1 (acknowledged) and 2 (not) leave
    const s = b.stats()
    assert.equal(s.flowLogs, 3)
    assert.equal(s.bytes, 300)
    assert.equal(s.dropped.overflow, 1)
    assert.deepEqual(drain(b), [4, 5])
  })

  test('old entries age out; unacknowledged ones are counted; abandon counts the rest as stopped', () => {
    const b = new ExportBuffer({ maxBytes: 10_000, maxAgeMs: 1000 }, SIZE)
    b.push([log(1)], 0)
    b.push([log(2)], 900)
    b.prune(1500)
    assert.equal(b.stats().dropped.aged, 1)
    assert.equal(b.stats().flowLogs, 1)
    assert.equal(b.abandon(), 1)
    assert.equal(b.stats().dropped.stopped, 1)
    assert.equal(b.drained, true)
  })
})
