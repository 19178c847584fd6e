// pcap-file: replay of captures the tests build themselves, checked flow by flow against what was "sent".
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'

import { connectionCompleted, connectionLive, connectionStarted, FLOW_STATE, type FlowRecord } from '../../agent/src/flows/flow-record.js'
import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import type { FlowRecordBatch } from '../../agent/src/tap/tap-source.js'
import { assertSlotDiscipline, collect, finalRecords, tempFile } from './helpers/collect.js'
import {
  ACK, ethernet, ethernetOther, FIN, icmp, ipv4, ipv6, PSH, RST, sctp, sll, sll2, SYN, tcp, udp
} from './helpers/packet-builder.js'
import { type CapturedPacket, LINKTYPE, pcapBytes, pcapngBytes } from './helpers/pcap-writer.js'

const T0 = 1_700_000_000_000_000_000n
const MS = 1_000_000n

function at (ms: number, data: Buffer): CapturedPacket {
  return { tsNs: T0 + BigInt(ms) * MS, data }
}

/** A complete TCP connection: handshake, `requests` data segments each way, FIN/ACK close. */
function tcpConversation (client: string, server: string, cport: number, sport: number, startMs: number, payload: number): CapturedPacket[] {
  const c = (flags: number, len = 0): Buffer => ethernet(ipv4(client, server, tcp(cport, sport, flags, len)))
  const s = (flags: number, len = 0): Buffer => ethernet(ipv4(server, client, tcp(sport, cport, flags, len)))
  return [
    at(startMs, c(SYN)), at(startMs + 1, s(SYN | ACK)), at(startMs + 2, c(ACK)),
    at(startMs + 3, c(PSH | ACK, payload)), at(startMs + 4, s(PSH | ACK, payload * 2)),
    at(startMs + 5, c(FIN | ACK)), at(startMs + 6, s(FIN | ACK)), at(startMs + 7, c(ACK))
  ]
}

describe('pcap-file source', () => {
  test('a TCP connection becomes one flow oriented from the client, with counts per direction', async () => {
    const path = tempFile('tcp.pcap', pcapBytes(LINKTYPE.ETHERNET, tcpConversation('10.0.0.1', '10.0.0.2', 40000, 80, 0, 100)))
    const { records, stats, error } = await collect(`pcap-file:${path}`)
    assert.equal(error, undefined)
    assert.deepEqual(records.map(r => r.kind), ['start', 'end'])
    const start = records[0]!
    assert.equal(start.packetsFwd, 1, 'the start record carries the SYN')
    assert.ok(connectionStarted(start))
    assert.ok(connectionLive(start))
    const end = records[1]!
    assert.equal(end.srcAddr, '10.0.0.1')
    assert.equal(end.dstAddr, '10.0.0.2')
    assert.equal(end.srcPort, 40000)
    assert.equal(end.dstPort, 80)
    assert.equal(end.protocol, 6)
    assert.equal(end.packetsFwd, 5)
    assert.equal(end.packetsRev, 3)
    // IP bytes: 40 per bare segment, plus payloads.
    assert.equal(end.bytesFwd, 5 * 40 + 100)
    assert.equal(end.bytesRev, 3 * 40 + 200)
    assert.equal(end.endReason, 'tcpClosed')
    assert.ok(connectionStarted(end))
    assert.ok(connectionCompleted(end))
    assert.equal(connectionLive(end), false)
    assert.equal(end.firstSeenMs, Number(T0 / MS))
    assert.equal(end.lastSeenMs, Number(T0 / MS) + 7)
    assert.equal(end.flowId, records[0]!.flowId)
    assert.equal(stats.packets, 8)
    assert.equal(stats.parsed, 8)
    assert.equal(stats.connectionsStarted, 1)
    assert.equal(stats.connectionsCompleted, 1)
    assert.equal(stats.file?.packetsRead, 8)
    assert.equal(stats.recordsDelivered, 2)
  })

  test('pcapng gives the same flows as pcap', async () => {
    const packets = tcpConversation('10.0.0.1', '10.0.0.2', 40000, 443, 0, 10)
    const a = await collect(`pcap-file:${tempFile('same.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    const b = await collect(`pcap-file:${tempFile('same.pcapng', pcapngBytes(LINKTYPE.ETHERNET, packets))}`)
    assert.equal(b.error, undefined)
    assert.deepEqual(b.records, a.records)
  })

  test('microsecond and big-endian pcap files read the same as nanosecond little-endian ones', async () => {
    const packets = tcpConversation('10.0.0.1', '10.0.0.2', 40000, 8080, 0, 10)
    const ns = pcapBytes(LINKTYPE.ETHERNET, packets)
    // Microsecond magic: timestamps are whole microseconds here, so the records must be identical.
    const us = Buffer.from(ns)
    us.writeUInt32LE(0xa1b2c3d4, 0)
    // Big-endian writer: swap every header field.
    const be = Buffer.from(ns)
    be.writeUInt32BE(0xa1b23c4d, 0)
    be.writeUInt16BE(2, 4)
    be.writeUInt16BE(4, 6)
    be.writeUInt32BE(65535, 16)
    be.writeUInt32BE(1, 20)
    for (let off = 24; off < ns.length;) {
      const caplen = ns.readUInt32LE(off + 8)
      for (let k = 0; k < 16; k += 4) be.writeUInt32BE(ns.readUInt32LE(off + k), off + k)
      off += 16 + caplen
    }
    for (let off = 24; off < us.length;) {
      us.writeUInt32LE(us.readUInt32LE(off + 4) / 1000, off + 4)
      off += 16 + us.readUInt32LE(off + 8)
    }
    const a = await collect(`pcap-file:${tempFile('ns.pcap', ns)}`)
    assert.equal(a.stats.file?.memoryMapped, 1)
    for (const [name, bytes] of [['us.pcap', us], ['be.pcap', be]] as const) {
      const b = await collect(`pcap-file:${tempFile(name, bytes)}`)
      assert.equal(b.error, undefined, name)
      assert.deepEqual(b.records, a.records, name)
    }
  })

  test('a flow first seen at its SYN-ACK is oriented from the client; a mid-stream flow is marked', async () => {
    const packets = [
      at(0, ethernet(ipv4('10.0.0.2', '10.0.0.1', tcp(80, 40001, SYN | ACK)))),
      at(1, ethernet(ipv4('10.0.0.1', '10.0.0.2', tcp(40001, 80, ACK)))),
      at(2, ethernet(ipv4('10.0.0.3', '10.0.0.4', tcp(5000, 6000, ACK, 10))))
    ]
    const { records } = await collect(`pcap-file:${tempFile('synack.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    const ends = finalRecords(records)
    const synack = ends.find(r => r.dstPort === 80)!
    assert.equal(synack.srcAddr, '10.0.0.1')
    assert.equal(synack.packetsFwd, 1)
    assert.equal(synack.packetsRev, 1)
    assert.equal(synack.state & FLOW_STATE.MIDSTREAM, 0)
    const mid = ends.find(r => r.dstPort === 6000)!
    assert.equal(mid.srcAddr, '10.0.0.3')
    assert.notEqual(mid.state & FLOW_STATE.MIDSTREAM, 0)
    assert.equal(connectionStarted(mid), false)
  })

  test('link types: 802.1Q, QinQ, SLL, SLL2 (interface index), raw IP', async () => {
    const ip = ipv4('192.0.2.1', '192.0.2.2', udp(1234, 53, 20))
    const cases: Array<[string, number, Buffer, number]> = [
      ['dot1q', LINKTYPE.ETHERNET, ethernet(ip, [{ vid: 10 }]), 0],
      ['qinq', LINKTYPE.ETHERNET, ethernet(ip, [{ tpid: 0x88a8, vid: 100 }, { vid: 10 }]), 0],
      ['sll', LINKTYPE.LINUX_SLL, sll(ip), 0],
      ['sll2', LINKTYPE.LINUX_SLL2, sll2(ip, 7), 7],
      ['raw', LINKTYPE.RAW, ip, 0]
    ]
    for (const [name, link, frame, ifindex] of cases) {
      const { records, stats } = await collect(`pcap-file:${tempFile(`${name}.pcap`, pcapBytes(link, [at(0, frame)]))}`)
      assert.equal(stats.parsed, 1, name)
      const end = finalRecords(records)[0]!
      assert.equal(end.srcAddr, '192.0.2.1', name)
      assert.equal(end.dstPort, 53, name)
      assert.equal(end.protocol, 17, name)
      assert.equal(end.bytesFwd, 48, name)
      assert.equal(end.ifindex, ifindex, name)
    }
  })

  test('ICMP and ICMPv6 echo pair request and reply by identifier; SCTP has ports', async () => {
    const packets = [
      at(0, ethernet(ipv4('10.1.0.1', '10.1.0.2', icmp(8, 0, 77, 56)))),
      at(1, ethernet(ipv4('10.1.0.2', '10.1.0.1', icmp(0, 0, 77, 56)))),
      at(2, ethernet(ipv6('fd00::1', 'fd00::2', icmp(128, 0, 99, 8, true)))),
      at(3, ethernet(ipv6('fd00::2', 'fd00::1', icmp(129, 0, 99, 8, true)))),
      at(4, ethernet(ipv4('10.1.0.1', '10.1.0.2', sctp(3868, 3868, 16))))
    ]
    const { records } = await collect(`pcap-file:${tempFile('icmp.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    const ends = finalRecords(records)
    assert.equal(ends.length, 3)
    const v4 = ends.find(r => r.protocol === 1)!
    assert.deepEqual([v4.srcAddr, v4.dstAddr, v4.srcPort, v4.dstPort, v4.packetsFwd, v4.packetsRev, v4.icmpType],
      ['10.1.0.1', '10.1.0.2', 77, 77, 1, 1, 8])
    const v6 = ends.find(r => r.protocol === 58)!
    assert.deepEqual([v6.family, v6.srcAddr, v6.dstAddr, v6.srcPort, v6.packetsFwd, v6.packetsRev, v6.icmpType, v6.bytesFwd],
      [6, 'fd00::1', 'fd00::2', 99, 1, 1, 128, 56])
    const s = ends.find(r => r.protocol === 132)!
    assert.deepEqual([s.srcPort, s.dstPort], [3868, 3868])
  })

  test('IPv4 options and fragments: later fragments take the first fragment\'s ports; orphans are counted', async () => {
    const first = udp(5353, 9999, 40)
    const packets = [
      at(0, ethernet(ipv4('10.2.0.1', '10.2.0.2', udp(1, 2, 0), { options: Buffer.from([1, 1, 1, 0]) }))),
      at(1, ethernet(ipv4('10.2.0.1', '10.2.0.2', first, { id: 42, moreFragments: true }))),
      at(2, ethernet(ipv4('10.2.0.1', '10.2.0.2', { protocol: 17, bytes: Buffer.alloc(32) }, { id: 42, fragmentOffset: 48 }))),
      at(3, ethernet(ipv4('10.2.0.1', '10.2.0.2', { protocol: 17, bytes: Buffer.alloc(32) }, { id: 43, fragmentOffset: 48 })))
    ]
    const { records, stats } = await collect(`pcap-file:${tempFile('frag.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    const ends = finalRecords(records)
    const withOptions = ends.find(r => r.dstPort === 2)!
    assert.equal(withOptions.bytesFwd, 24 + 8)
    const fragmented = ends.find(r => r.dstPort === 9999)!
    assert.equal(fragmented.packetsFwd, 2)
    assert.equal(fragmented.bytesFwd, (20 + 48) + (20 + 32))
    assert.equal(fragmented.fragments, 2)
    assert.notEqual(fragmented.state & FLOW_STATE.FRAGMENTED, 0)
    assert.equal(stats.fragments, 3)
    assert.equal(stats.fragmentsAttributed, 1)
    assert.equal(stats.fragmentsUnattributed, 1)
  })

  test('IPv6 extension headers (hop-by-hop, routing, destination, fragment) are walked to the transport header', async () => {
    const packets = [
      at(0, ethernet(ipv6('2001:db8::1', '2001:db8::2', tcp(50000, 443, SYN), [{ type: 'hopByHop' }, { type: 'routing', length: 2 }, { type: 'destination', length: 1 }]))),
      at(1, ethernet(ipv6('2001:db8::2', '2001:db8::1', tcp(443, 50000, SYN | ACK)))),
      at(2, ethernet(ipv6('2001:db8::1', '2001:db8::2', udp(7000, 7001, 100), [{ type: 'fragment', offset: 0, more: true, id: 5 }]))),
      at(3, ethernet(ipv6('2001:db8::1', '2001:db8::2', { protocol: 17, bytes: Buffer.alloc(64) }, [{ type: 'fragment', offset: 112, more: false, id: 5 }])))
    ]
    const { records, stats } = await collect(`pcap-file:${tempFile('v6ext.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    assert.equal(stats.malformed, 0)
    const ends = finalRecords(records)
    const t = ends.find(r => r.protocol === 6)!
    assert.deepEqual([t.srcAddr, t.dstAddr, t.srcPort, t.dstPort, t.packetsFwd, t.packetsRev], ['2001:db8::1', '2001:db8::2', 50000, 443, 1, 1])
    assert.equal(t.bytesFwd, 40 + 8 + 24 + 16 + 20)
    const u = ends.find(r => r.protocol === 17)!
    assert.equal(u.dstPort, 7001)
    assert.equal(u.packetsFwd, 2)
    assert.equal(stats.fragmentsAttributed, 1)
  })

  test('malformed and non-IP packets are counted by reason, never fatal', async () => {
    const good = ethernet(ipv4('10.3.0.1', '10.3.0.2', udp(1, 2, 0)))
    const packets = [
      at(0, good),
      at(1, ethernetOther(0x0806, Buffer.alloc(28))),      // ARP
      at(2, good.subarray(0, 14 + 10)),                     // IPv4 header cut short
      at(3, Buffer.from([1, 2, 3])),                        // shorter than Ethernet
      at(4, ethernet(Buffer.concat([Buffer.from([0x45, 0, 0, 10]), Buffer.alloc(16)]))),  // total length < header
      at(5, ethernet(ipv4('10.3.0.1', '10.3.0.2', { protocol: 6, bytes: Buffer.alloc(8) })))  // TCP header cut short
    ]
    const { records, stats, error } = await collect(`pcap-file:${tempFile('bad.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    assert.equal(error, undefined)
    assert.equal(finalRecords(records).length, 1)
    assert.equal(stats.packets, 6)
    assert.equal(stats.parsed, 1)
    assert.equal(stats.notIp, 1)
    assert.equal(stats.malformed, 4)
    assert.equal(stats.malformedByReason.truncatedIpHeader, 1)
    assert.equal(stats.malformedByReason.truncatedLinkHeader, 1)
    assert.equal(stats.malformedByReason.badIpTotalLength, 1)
    assert.equal(stats.malformedByReason.truncatedTransportHeader, 1)
  })

  test('idle timeout ends a flow on the capture clock; active timeout emits updates', async () => {
    const u = (ms: number): CapturedPacket => at(ms, ethernet(ipv4('10.4.0.1', '10.4.0.2', udp(1000, 2000, 10))))
    const t = (ms: number): CapturedPacket => at(ms, ethernet(ipv4('10.4.0.3', '10.4.0.4', udp(1000, 2000, 10))))
    const packets: CapturedPacket[] = [u(0)]
    for (let s = 0; s <= 40; s++) packets.push(t(s * 1000 + 500))
    packets.push(u(100_000))
    packets.sort((a, b) => Number(a.tsNs - b.tsNs))
    const { records } = await collect(`pcap-file:${tempFile('timeouts.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`,
      { idleTimeoutMs: 30_000, activeTimeoutMs: 15_000 })
    const idle = records.filter(r => r.srcAddr === '10.4.0.1')
    assert.deepEqual(idle.map(r => `${r.kind}:${r.endReason}`), ['start:none', 'end:idle', 'start:none', 'end:flush'])
    assert.equal(idle[0]!.packetsFwd, 1, 'a start record carries the first packet')
    assert.equal(idle[1]!.packetsFwd, 1)
    assert.equal(idle[1]!.lastSeenMs, idle[1]!.firstSeenMs)
    assert.notEqual(idle[2]!.flowId, idle[0]!.flowId)
    const active = records.filter(r => r.srcAddr === '10.4.0.3')
    assert.deepEqual(active.map(r => r.kind), ['start', 'update', 'update', 'end'])
    assert.equal(active[active.length - 1]!.packetsFwd, 41)
  })

  test('a full table evicts the least recently used flow and counts it', async () => {
    const packets = [1, 2, 3].map(i => at(i, ethernet(ipv4(`10.5.0.${i}`, '10.5.0.100', udp(1000, 2000, 1)))))
    packets.push(at(4, ethernet(ipv4('10.5.0.2', '10.5.0.100', udp(1000, 2000, 1)))))
    const { records, stats } = await collect(`pcap-file:${tempFile('evict.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`, { maxFlows: 2 })
    const evicted = records.filter(r => r.kind === 'evicted')
    assert.equal(evicted.length, 1)
    assert.equal(evicted[0]!.srcAddr, '10.5.0.1')
    assert.equal(stats.evictions, 1)
    assert.equal(stats.records.evicted, 1)
    assert.equal(stats.flowsCreated, 3)
    assertSlotDiscipline(records, 2)
  })

  test('RST completes a started connection; a new SYN on a closed 5-tuple starts a new flow', async () => {
    const c = (flags: number): Buffer => ethernet(ipv4('10.6.0.1', '10.6.0.2', tcp(40000, 22, flags)))
    const s = (flags: number): Buffer => ethernet(ipv4('10.6.0.2', '10.6.0.1', tcp(22, 40000, flags)))
    const packets = [at(0, c(SYN)), at(1, s(RST | ACK)), at(100, c(SYN)), at(101, s(SYN | ACK))]
    const { records, stats } = await collect(`pcap-file:${tempFile('rst.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))}`)
    const ends = finalRecords(records)
    assert.equal(ends.length, 2)
    assert.equal(ends[0]!.endReason, 'tcpClosed')
    assert.ok(connectionCompleted(ends[0]!))
    assert.notEqual(ends[0]!.state & FLOW_STATE.TCP_RST, 0)
    assert.equal(connectionCompleted(ends[1]!), false)
    assert.equal(stats.connectionsStarted, 2)
    assert.equal(stats.connectionsCompleted, 1)
  })

  test('speed 1 replays at recorded speed', async () => {
    const packets = [at(0, ethernet(ipv4('10.7.0.1', '10.7.0.2', udp(1, 2)))), at(400, ethernet(ipv4('10.7.0.1', '10.7.0.2', udp(1, 2))))]
    const path = tempFile('speed.pcap', pcapBytes(LINKTYPE.ETHERNET, packets))
    const t0 = performance.now()
    await collect(`pcap-file:${path}`, { speed: 1 })
    const paced = performance.now() - t0
    assert.ok(paced >= 380, `replay took ${paced} ms, expected about 400`)
  })
})

describe('pcap-file errors', () => {
  test('a missing file is ERR_TAP_OPEN', async () => {
    await assert.rejects(collect('pcap-file:/nonexistent/x.pcap'), { code: 'ERR_TAP_OPEN', message: /No such file/ })
  })

  test('a file that is not a capture is ERR_TAP_NOT_A_CAPTURE', async () => {
    const path = tempFile('notes.txt', 'hello, this is not a capture file at all\n')
    await assert.rejects(collect(`pcap-file:${path}`), { code: 'ERR_TAP_NOT_A_CAPTURE', name: 'TapError' })
  })

  test('a truncated capture keeps the records before the damage and names the packet', async () => {
    const whole = pcapBytes(LINKTYPE.ETHERNET, [
      ...tcpConversation('10.8.0.1', '10.8.0.2', 40000, 80, 0, 10),
      at(50, ethernet(ipv4('10.8.0.3', '10.8.0.4', udp(1, 2, 100))))
    ])
    const path = tempFile('cut.pcap', whole.subarray(0, whole.length - 60))
    const { records, error } = await collect(`pcap-file:${path}`)
    assert.equal(error?.code, 'ERR_TAP_TRUNCATED')
    assert.match(error!.message, /damaged at packet 9 \(8 complete packets were read and kept\)/)
    const ends = finalRecords(records)
    assert.equal(ends.length, 1)
    assert.equal(ends[0]!.packetsFwd + ends[0]!.packetsRev, 8)
    assert.ok(readFileSync(path).length > 0)
  })

  test('a truncated pcapng (read by libpcap) is reported the same way', async () => {
    const whole = pcapngBytes(LINKTYPE.ETHERNET, tcpConversation('10.8.0.1', '10.8.0.2', 40000, 80, 0, 10))
    const { records, error, stats } = await collect(`pcap-file:${tempFile('cut.pcapng', whole.subarray(0, whole.length - 30))}`)
    assert.equal(stats.file?.memoryMapped, 0)
    assert.equal(error?.code, 'ERR_TAP_TRUNCATED')
    assert.match(error!.message, /damaged at packet 8 \(7 complete packets were read and kept\)/)
    assert.equal(finalRecords(records)[0]!.packetsFwd + finalRecords(records)[0]!.packetsRev, 7)
  })

  test('a record longer than any snap length is reported as damage, not read', async () => {
    const bytes = pcapBytes(LINKTYPE.ETHERNET, tcpConversation('10.8.0.1', '10.8.0.2', 40000, 80, 0, 10))
    bytes.writeUInt32LE(0x7fffffff, 24 + 8)
    const { error, records } = await collect(`pcap-file:${tempFile('huge.pcap', bytes)}`)
    assert.equal(error?.code, 'ERR_TAP_TRUNCATED')
    assert.match(error!.message, /packet 1 .*invalid packet capture length/)
    assert.equal(records.length, 0)
  })
})

describe('pcap-file source on a pipe or FIFO (tcpdump -w - | …)', () => {
  /** A FIFO in the test directory, and a shell that writes `script` into it (as `sh -c`), killed at the end. */
  function fifo (name: string): string {
    const path = tempFile(`${name}.placeholder`, '').replace(/\.placeholder$/, '.fifo')
    const made = spawnSync('mkfifo', [path])
    assert.equal(made.status, 0, `mkfifo: ${made.stderr?.toString()}`)
    return path
  }
  function writer (path: string, script: string): ChildProcess {
    return spawn('sh', ['-c', `{ ${script}; } > '${path}'`], { stdio: 'ignore' })
  }
  /** The next batch's records, or undefined when the source ends; rejects after `ms`. */
  async function nextRecords (it: AsyncIterator<FlowRecordBatch>, ms: number): Promise<FlowRecord[] | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms) })
    try {
      const r = await Promise.race([it.next(), timeout])
      return r.done === true ? undefined : r.value.records()
    } finally {
      clearTimeout(timer)
    }
  }

  const packets = [...tcpConversation('10.9.0.1', '10.9.0.2', 40000, 80, 0, 100), ...tcpConversation('10.9.0.3', '10.9.0.2', 40001, 80, 10, 50)]
  const whole = pcapBytes(LINKTYPE.ETHERNET, packets)

  test('opening does not wait for a writer; records made so far arrive while the writer is idle; close() ends it', async () => {
    const path = fifo('idle')
    const part = tempFile('idle-part.pcap', pcapBytes(LINKTYPE.ETHERNET, packets.slice(0, 4)))
    const started = Date.now()
    const source = openTapSource(`pcap-file:${path}`)
    assert.ok(Date.now() - started < 500, 'openTapSource returned without a writer')
    const w = writer(path, `cat '${part}'; sleep 30`)
    try {
      const it = source[Symbol.asyncIterator]()
      const first = await nextRecords(it, 3000)
      assert.deepEqual(first?.map(r => [r.kind, r.srcAddr]), [['start', '10.9.0.1']], 'the start record, while the writer waits')
      assert.equal(source.stats().file?.packetsRead, 4, 'counters are current while the writer waits')
      const closing = Date.now()
      source.close()
      const rest: FlowRecord[] = []
      for (let batch = await nextRecords(it, 3000); batch !== undefined; batch = await nextRecords(it, 3000)) rest.push(...batch)
      assert.ok(Date.now() - closing < 2000, `close() took ${Date.now() - closing} ms with an idle writer`)
      assert.deepEqual(rest.map(r => [r.kind, r.endReason, r.packetsFwd + r.packetsRev]), [['end', 'flush', 4]], 'the flow ends with what was read')
    } finally {
      w.kill()
    }
  })

  test('a stream read to its end gives the same records as the file', async () => {
    const path = fifo('whole')
    const [a, b] = [tempFile('whole-a.bin', whole.subarray(0, 300)), tempFile('whole-b.bin', whole.subarray(300))]
    const w = writer(path, `cat '${a}'; sleep 0.3; cat '${b}'`)
    try {
      const streamed = await collect(`pcap-file:${path}`)
      const file = await collect(`pcap-file:${tempFile('whole.pcap', whole)}`)
      assert.equal(streamed.error, undefined)
      const shape = (r: FlowRecord): string => JSON.stringify([r.kind, r.endReason, r.srcAddr, r.dstAddr, r.packetsFwd, r.packetsRev, r.bytesFwd, r.bytesRev, r.state])
      assert.deepEqual(streamed.records.map(shape), file.records.map(shape))
      assert.equal(streamed.stats.file?.packetsRead, packets.length)
    } finally {
      w.kill()
    }
  })

  test('a FIFO nobody writes to: close() ends the source at once, with no error', async () => {
    const source = openTapSource(`pcap-file:${fifo('nobody')}`)
    const it = source[Symbol.asyncIterator]()
    setTimeout(() => { source.close() }, 200)
    assert.equal(await nextRecords(it, 2000), undefined)
  })

  test('a stream that is not a capture is ERR_TAP_NOT_A_CAPTURE', async () => {
    const path = fifo('garbage')
    const w = writer(path, "printf 'hello, this is not a capture file at all'")
    try {
      const { error } = await collect(`pcap-file:${path}`)
      assert.equal(error?.code, 'ERR_TAP_NOT_A_CAPTURE')
      assert.match(error!.message, /not a pcap or pcapng capture stream/)
    } finally {
      w.kill()
    }
  })
})
