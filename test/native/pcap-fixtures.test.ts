// Real captures (tcpdump on the host side of two bridged namespaces and on `any`, made by
// scripts/make-pcap-fixtures.mjs) pinned flow by flow: kernel-made TCP options, MLD behind a hop-by-hop header,
// IGMP, neighbour discovery — packets no test builder wrote.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'

import type { FlowRecord } from '../../agent/src/flows/flow-record.js'
import { connectionCompleted, connectionStarted } from '../../agent/src/flows/flow-record.js'
import { collect, finalRecords } from './helpers/collect.js'

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/pcap/${name}`, import.meta.url))
const A4 = '10.213.9.1'
const B4 = '10.213.9.2'
const A6 = 'fd00:213:9::1'
const B6 = 'fd00:213:9::2'

function counts (r: FlowRecord): number[] {
  return [r.packetsFwd, r.packetsRev, r.bytesFwd, r.bytesRev]
}

describe('captured fixtures', () => {
  test('netns-ethernet.pcap: every exchange of the script, exactly', async () => {
    const { records, stats, error } = await collect(`pcap-file:${fixture('netns-ethernet.pcap')}`)
    assert.equal(error, undefined)
    assert.equal(stats.malformed, 0)
    assert.equal(stats.notIp, 0)
    const ends = finalRecords(records)
    const find = (p: (r: FlowRecord) => boolean): FlowRecord => {
      const found = ends.filter(p)
      assert.equal(found.length, 1)
      return found[0]!
    }
    const udp = find(r => r.protocol === 17 && r.dstPort === 5300)
    assert.deepEqual([udp.srcAddr, udp.srcPort, udp.dstAddr], [A4, 45300, B4])
    assert.deepEqual(counts(udp), [3, 3, 3 * 92, 3 * 92])
    // TCP v4: SYN (40-byte TCP header with options), then 32-byte headers (timestamps); 3000 bytes up, 2 down.
    const tcp4 = find(r => r.protocol === 6 && r.family === 4)
    assert.deepEqual([tcp4.srcAddr, tcp4.dstAddr, tcp4.dstPort], [A4, B4, 5400])
    assert.deepEqual(counts(tcp4), [6, 4, 60 + 5 * 52 + 3000, 60 + 3 * 52 + 2])
    assert.ok(connectionStarted(tcp4) && connectionCompleted(tcp4))
    const tcp6 = find(r => r.protocol === 6 && r.family === 6)
    assert.deepEqual([tcp6.srcAddr, tcp6.dstAddr, tcp6.dstPort], [A6, B6, 5400])
    assert.deepEqual(counts(tcp6), [5, 5, 80 + 4 * 72 + 3000, 80 + 4 * 72 + 2])
    assert.ok(connectionStarted(tcp6) && connectionCompleted(tcp6))
    const ping4 = find(r => r.protocol === 1)
    assert.deepEqual([ping4.srcAddr, ping4.icmpType, ping4.srcPort === ping4.dstPort], [A4, 8, true])
    assert.deepEqual(counts(ping4), [2, 2, 168, 168])
    const ping6 = find(r => r.protocol === 58 && r.icmpType === 128)
    assert.deepEqual([ping6.srcAddr, ping6.dstAddr], [A6, B6])
    assert.deepEqual(counts(ping6), [2, 2, 208, 208])
    // MLDv2 reports travel behind a hop-by-hop options header: found, parsed to ICMPv6 type 143.
    assert.ok(ends.some(r => r.protocol === 58 && r.icmpType === 143 && r.dstAddr === 'ff02::16'))
    assert.ok(ends.some(r => r.protocol === 2 && r.dstAddr === '224.0.0.22'), 'IGMP is a flow by addresses')
  })

  test('netns-any-sll2.pcap: the same exchanges once per interface, told apart by the SLL2 interface index', async () => {
    const { records, stats, error } = await collect(`pcap-file:${fixture('netns-any-sll2.pcap')}`)
    assert.equal(error, undefined)
    assert.equal(stats.malformed, 0)
    const ends = finalRecords(records)
    const udp = ends.filter(r => r.protocol === 17 && r.dstPort === 5300)
    assert.ok(udp.length >= 2, `UDP seen on ${udp.length} interfaces`)
    assert.equal(new Set(udp.map(r => r.ifindex)).size, udp.length)
    for (const r of udp) {
      assert.ok(r.ifindex > 0)
      assert.deepEqual(counts(r), [3, 3, 3 * 92, 3 * 92])
    }
    const tcp = ends.filter(r => r.protocol === 6)
    assert.ok(tcp.every(r => connectionCompleted(r)))
    assert.deepEqual([...new Set(tcp.map(r => r.family))].sort(), [4, 6])
  })
})
