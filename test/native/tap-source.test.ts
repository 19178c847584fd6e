// The TypeScript side of the tap: loader and layout check, source strings and options, the synthetic source.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'

import { ERROR_CODES } from '../../agent/src/errors.js'
import { loadNativeAddon } from '../../agent/src/tap/native-addon.js'
import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import fc from 'fast-check'

import {
  allocateBatchBuffer, BATCH_HEADER_SIZE, BATCH_MAGIC, formatIpv6, OFFSET, RECORD_LAYOUT_VERSION, RECORD_SIZE, RecordDecoder
} from '../../agent/src/tap/record-layout.js'
import { parseTapSourceSpec, validateTapSourceOptions } from '../../agent/src/tap/tap-source-spec.js'
import { assertSlotDiscipline, collect } from './helpers/collect.js'

describe('native addon loader', () => {
  test('the addon writes the record layout the TypeScript decoder reads', () => {
    const addon = loadNativeAddon()
    assert.equal(addon.layoutVersion, RECORD_LAYOUT_VERSION)
    assert.equal(addon.recordSize, RECORD_SIZE)
    const header = readFileSync(new URL('../../../native/include/flow-record.h', import.meta.url), 'utf8')
    assert.match(header, new RegExp(`#define SF_RECORD_LAYOUT_VERSION ${RECORD_LAYOUT_VERSION}\\b`))
    assert.match(header, new RegExp(`#define SF_RECORD_SIZE ${RECORD_SIZE}\\b`))
  })

  test('every tap error code is in the catalogue', () => {
    for (const code of ['ERR_TAP_SOURCE', 'ERR_TAP_OPEN', 'ERR_TAP_PERMISSION', 'ERR_TAP_NO_SUCH_INTERFACE', 'ERR_TAP_FILTER',
      'ERR_TAP_NOT_A_CAPTURE', 'ERR_TAP_TRUNCATED', 'ERR_ADDON_MISSING', 'ERR_ADDON_LAYOUT']) {
      assert.ok(ERROR_CODES[code] !== undefined, code)
    }
    // Codes raised from C++ must be catalogued too.
    const native = ['tap.cc', 'pcap-file-source.cc', 'pcap-live-source.cc', 'synthetic-source.cc', 'addon.cc']
      .map(f => readFileSync(new URL(`../../../native/src/${f}`, import.meta.url), 'utf8')).join('\n')
    for (const m of native.matchAll(/"(ERR_[A-Z_]+)"/g)) assert.ok(ERROR_CODES[m[1]!] !== undefined, m[1])
  })
})

describe('tap source strings and options', () => {
  test('parses each kind', () => {
    assert.deepEqual(parseTapSourceSpec('pcap:eth0,veth*'), { kind: 'pcap', interfaces: ['eth0', 'veth*'] })
    assert.deepEqual(parseTapSourceSpec('pcap:any'), { kind: 'pcap', interfaces: ['any'] })
    assert.deepEqual(parseTapSourceSpec('pcap-file:/tmp/a:b.pcap'), { kind: 'pcap-file', path: '/tmp/a:b.pcap' })
    assert.deepEqual(parseTapSourceSpec('synthetic:1000,50000'), { kind: 'synthetic', flows: 1000, rate: 50000 })
  })

  test('rejects bad strings with ERR_TAP_SOURCE and says what was expected', () => {
    for (const [spec, why] of [['pcap:', /names no interface/], ['xdp:eth0', /unknown tap source/],
      ['synthetic:10', /synthetic:<flows>,<rate>/], ['synthetic:x,1', /non-negative integer/], ['pcap:eth0;rm', /not an interface/],
      ['pcap-file:', /names no file/]] as const) {
      assert.throws(() => parseTapSourceSpec(spec), { code: 'ERR_TAP_SOURCE', message: why }, spec)
    }
  })

  test('reports every bad option at once', () => {
    assert.throws(() => validateTapSourceOptions({ snaplen: 10, maxFlows: 1.5, bogus: 1 } as never),
      (e: Error & { code?: string }) => e.code === 'ERR_TAP_SOURCE' && /snaplen/.test(e.message) &&
        /maxFlows/.test(e.message) && /unknown option 'bogus'/.test(e.message))
  })

  test('rejects options that do not apply to the kind of source', () => {
    assert.throws(() => openTapSource('synthetic:1,1', { filter: 'tcp', speed: 1 }),
      { code: 'ERR_TAP_SOURCE', message: /'filter' does not apply to synthetic sources; option 'speed' does not apply/ })
    assert.throws(() => validateTapSourceOptions({ endpoints: 3 }, 'pcap-file'), /'endpoints' does not apply to pcap-file/)
    validateTapSourceOptions({ filter: 'tcp', maxFlows: 10 }, 'pcap')
  })

  test('formats IPv6 addresses canonically', () => {
    const b = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/ /g, ''), 'hex'))
    assert.equal(formatIpv6(b('2001 0db8 0000 0000 0000 0000 0000 0001'), 0), '2001:db8::1')
    assert.equal(formatIpv6(b('0000 0000 0000 0000 0000 0000 0000 0000'), 0), '::')
    assert.equal(formatIpv6(b('fe80 0000 0000 0000 0001 0000 0000 0002'), 0), 'fe80::1:0:0:2')
    assert.equal(formatIpv6(b('2001 0db8 0000 0001 0001 0001 0001 0001'), 0), '2001:db8:0:1:1:1:1:1')
    assert.equal(formatIpv6(b('0000 0000 0000 0000 0000 ffff c000 0201'), 0), '::ffff:192.0.2.1')
  })
})

describe('record decoder', () => {
  test('decodes every field at its documented offset, IPv4 text forms included (cache collisions too)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.nat(2 ** 40)), { minLength: 1, maxLength: 64 }), rows => {
      const buf = allocateBatchBuffer(rows.length)
      const view = new DataView(buf.buffer)
      view.setUint32(0, BATCH_MAGIC, true)
      view.setUint16(4, RECORD_LAYOUT_VERSION, true)
      view.setUint16(6, RECORD_SIZE, true)
      view.setUint32(8, rows.length, true)
      rows.forEach(([src, dst, port, bytes], i) => {
        const base = BATCH_HEADER_SIZE + i * RECORD_SIZE
        buf[base + OFFSET.kind] = 3
        buf[base + OFFSET.endReason] = 1
        buf[base + OFFSET.family] = 4
        buf[base + OFFSET.protocol] = 17
        buf.set(src.split('.').map(Number), base + OFFSET.srcAddr)
        buf.set(dst.split('.').map(Number), base + OFFSET.dstAddr)
        view.setUint16(base + OFFSET.dstPort, port, true)
        view.setBigUint64(base + OFFSET.bytesFwd, BigInt(bytes), true)
        view.setBigUint64(base + OFFSET.lastSeenNs, 1_700_000_000_123_456_789n, true)
        view.setUint32(base + OFFSET.nameId, i, true)
      })
      const d = new RecordDecoder(buf)
      assert.equal(d.count(), rows.length)
      rows.forEach(([src, dst, port, bytes], i) => {
        const r = d.record(i)
        assert.deepEqual([r.kind, r.endReason, r.srcAddr, r.dstAddr, r.dstPort, r.bytesFwd, r.nameId, r.protocol],
          ['end', 'idle', src, dst, port, bytes, i, 17])
        assert.ok(Math.abs(r.lastSeenMs - 1_700_000_000_123.4568) < 1e-3)
      })
    }))
  })

  test('refuses a batch of another layout version', () => {
    const buf = allocateBatchBuffer(1)
    const view = new DataView(buf.buffer)
    view.setUint32(0, BATCH_MAGIC, true)
    view.setUint16(4, RECORD_LAYOUT_VERSION + 1, true)
    view.setUint16(6, RECORD_SIZE, true)
    assert.throws(() => new RecordDecoder(buf).count(), /layout/)
  })
})

describe('synthetic source', () => {
  test('delivers exactly `limit` records: every flow starts, may update, and ends', async () => {
    const { records, stats, error } = await collect('synthetic:100,0', { limit: 5000, endpoints: 50 })
    assert.equal(error, undefined)
    assert.equal(records.length, 5000)
    assert.equal(stats.synthetic?.generated, 5000)
    assert.equal(stats.recordsDelivered, 5000)
    const byKind = (k: string): number => records.filter(r => r.kind === k).length
    assert.deepEqual(stats.records, { start: byKind('start'), update: byKind('update'), end: byKind('end'), evicted: 0 })
    const seen = new Map<number, string>()
    for (const r of records) {
      const last = seen.get(r.flowId)
      if (last === undefined) assert.equal(r.kind, 'start')
      else assert.notEqual(last, 'end', 'no record after a flow ended')
      seen.set(r.flowId, r.kind)
      assert.match(r.srcAddr, /^10\.244\.\d+\.\d+$/)
      assert.ok(r.lastSeenMs >= r.firstSeenMs)
    }
    assert.ok([...seen.values()].filter(k => k === 'end').length > 100)
    assertSlotDiscipline(records, 100)
  })

  test('localEndpoints: every flow has one end among the first N endpoints, as source or destination, the peer anywhere', async () => {
    const { records, error } = await collect('synthetic:200,0', { limit: 20_000, endpoints: 1000, localEndpoints: 3 })
    assert.equal(error, undefined)
    const local = new Set(['10.244.0.0', '10.244.0.1', '10.244.0.2'])
    const starts = records.filter(r => r.kind === 'start')
    for (const r of starts) assert.ok(local.has(r.srcAddr) || local.has(r.dstAddr), `${r.srcAddr} -> ${r.dstAddr} has no local end`)
    const localSource = starts.filter(r => local.has(r.srcAddr)).length
    assert.ok(localSource > starts.length * 0.4 && localSource < starts.length * 0.6, `local pods are the source of ${localSource} of ${starts.length} flows`)
    const peers = new Set(starts.map(r => local.has(r.srcAddr) ? r.dstAddr : r.srcAddr))
    assert.ok(peers.size > 100, `${peers.size} distinct peers`)
  })

  test('seed: the same seed repeats the stream, every other seed (even its neighbour) draws another', async () => {
    const shape = async (seed: number): Promise<string> => {
      const { records, error } = await collect('synthetic:50,0', { limit: 400, endpoints: 1000, seed })
      assert.equal(error, undefined)
      return records.map(r => `${r.kind} ${r.srcAddr}:${r.srcPort} ${r.dstAddr}:${r.dstPort} ${r.packetsFwd}`).join('\n')
    }
    const streams = await Promise.all([8, 8, 9, 0, 1].map(shape))
    assert.equal(streams[0], streams[1])
    assert.equal(new Set(streams).size, 4, 'seeds 8, 9, 0 and 1 draw four different streams')
  })

  test('rate limits', async () => {
    const t0 = performance.now()
    const { records } = await collect('synthetic:10,20000', { limit: 6000 })
    const ms = performance.now() - t0
    assert.equal(records.length, 6000)
    assert.ok(ms >= 250, `6000 records at 20000/s took ${ms} ms`)
  })

  test('close() mid-stream ends the iterator', async () => {
    const source = openTapSource('synthetic:10,0')
    let n = 0
    for await (const batch of source) {
      n += batch.count
      if (n > 10000) source.close()
    }
    assert.ok(n > 10000)
  })
})
