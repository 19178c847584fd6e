// Regenerates the parser fuzzer's seed corpus (native/fuzz/corpus/parser) from the test packet builder:
// one file per interesting packet shape, in the fuzzer's input format (link selector, 8-byte clock step, packet).
// Run after `npx tsc -p .`: node scripts/make-fuzz-corpus.mjs
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const b = await import(join(root, 'dist/test/native/helpers/packet-builder.js'))
const w = await import(join(root, 'dist/test/native/helpers/pcap-writer.js'))
const dir = join(root, 'native/fuzz/corpus/parser')
mkdirSync(dir, { recursive: true })

// Selector indexes into the fuzzer's link-type table: 0 Ethernet, 1 SLL, 2 SLL2, 3 raw, 7 NULL.
const seeds = {
  'eth-tcp-syn': [0, b.ethernet(b.ipv4('10.0.0.1', '10.0.0.2', b.tcp(40000, 80, b.SYN)))],
  'eth-tcp-synack': [0, b.ethernet(b.ipv4('10.0.0.2', '10.0.0.1', b.tcp(80, 40000, b.SYN | b.ACK)))],
  'eth-tcp-fin': [0, b.ethernet(b.ipv4('10.0.0.1', '10.0.0.2', b.tcp(40000, 80, b.FIN | b.ACK, 10)))],
  'eth-tcp-rst': [0, b.ethernet(b.ipv4('10.0.0.2', '10.0.0.1', b.tcp(80, 40000, b.RST)))],
  'qinq-udp': [0, b.ethernet(b.ipv4('192.0.2.1', '192.0.2.2', b.udp(1234, 53, 20)), [{ tpid: 0x88a8, vid: 100 }, { vid: 10 }])],
  'dot1q-v6-udp': [0, b.ethernet(b.ipv6('2001:db8::1', '2001:db8::2', b.udp(1, 2, 8)), [{ vid: 5 }])],
  'ipv4-options': [0, b.ethernet(b.ipv4('10.2.0.1', '10.2.0.2', b.udp(1, 2, 0), { options: Buffer.from([1, 1, 1, 0, 7, 3, 4, 0]) }))],
  'ipv4-first-fragment': [0, b.ethernet(b.ipv4('10.2.0.1', '10.2.0.2', b.udp(5353, 9999, 40), { id: 42, moreFragments: true }))],
  'ipv4-later-fragment': [0, b.ethernet(b.ipv4('10.2.0.1', '10.2.0.2', { protocol: 17, bytes: Buffer.alloc(32) }, { id: 42, fragmentOffset: 48 }))],
  'ipv6-ext-chain': [0, b.ethernet(b.ipv6('2001:db8::1', '2001:db8::2', b.tcp(50000, 443, b.SYN), [{ type: 'hopByHop' }, { type: 'routing', length: 2 }, { type: 'destination', length: 1 }]))],
  'ipv6-fragment': [0, b.ethernet(b.ipv6('2001:db8::1', '2001:db8::2', b.udp(7000, 7001, 100), [{ type: 'fragment', offset: 0, more: true, id: 5 }]))],
  'ipv6-later-fragment': [0, b.ethernet(b.ipv6('2001:db8::1', '2001:db8::2', { protocol: 17, bytes: Buffer.alloc(64) }, [{ type: 'fragment', offset: 112, more: false, id: 5 }]))],
  'icmp-echo': [0, b.ethernet(b.ipv4('10.1.0.1', '10.1.0.2', b.icmp(8, 0, 77, 56)))],
  'icmp-unreachable': [0, b.ethernet(b.ipv4('10.1.0.2', '10.1.0.1', b.icmp(3, 3, 0, 28)))],
  'icmpv6-echo': [0, b.ethernet(b.ipv6('fd00::1', 'fd00::2', b.icmp(128, 0, 99, 8, true)))],
  'sctp': [0, b.ethernet(b.ipv4('10.1.0.1', '10.1.0.2', b.sctp(3868, 3868, 16)))],
  'arp': [0, b.ethernetOther(0x0806, Buffer.alloc(28))],
  'sll-udp': [1, b.sll(b.ipv4('192.0.2.1', '192.0.2.2', b.udp(1234, 53, 20)))],
  'sll2-tcp': [2, b.sll2(b.ipv4('192.0.2.1', '192.0.2.2', b.tcp(1, 2, b.ACK)), 7)],
  'raw-v6': [3, b.ipv6('fd00::1', 'fd00::2', b.udp(1, 2, 4))],
  'null-v4': [7, Buffer.concat([Buffer.from([2, 0, 0, 0]), b.ipv4('127.0.0.1', '127.0.0.1', b.udp(1, 2, 4))])]
}
for (const [name, [selector, packet]] of Object.entries(seeds)) {
  const step = Buffer.alloc(8)
  step.writeUInt32LE(1000, 0)
  writeFileSync(join(dir, `${name}.bin`), Buffer.concat([Buffer.from([selector]), step, packet]))
}
console.log(`wrote ${Object.keys(seeds).length} seeds to ${dir}`)

// Whole capture files for the pcap-reader target: both byte orders and precisions, damage of each kind.
const readerDir = join(root, 'native/fuzz/corpus/pcap-reader')
mkdirSync(readerDir, { recursive: true })
const t0 = 1_700_000_000_000_000_000n
const conversation = [
  b.ethernet(b.ipv4('10.0.0.1', '10.0.0.2', b.tcp(40000, 80, b.SYN))),
  b.ethernet(b.ipv4('10.0.0.2', '10.0.0.1', b.tcp(80, 40000, b.SYN | b.ACK))),
  b.ethernet(b.ipv4('10.0.0.1', '10.0.0.2', b.tcp(40000, 80, b.FIN | b.ACK, 5))),
  b.ethernet(b.ipv6('fd00::1', 'fd00::2', b.udp(1, 2, 4)))
].map((data, i) => ({ tsNs: t0 + BigInt(i) * 1000n, data }))
const ns = w.pcapBytes(w.LINKTYPE.ETHERNET, conversation)
const us = Buffer.from(ns)
us.writeUInt32LE(0xa1b2c3d4, 0)
const swapped = Buffer.from(ns)
swapped.writeUInt32BE(0xa1b23c4d, 0)
for (const off of [4, 6]) swapped.writeUInt16BE(ns.readUInt16LE(off), off)
for (const off of [8, 12, 16, 20]) swapped.writeUInt32BE(ns.readUInt32LE(off), off)
for (let off = 24; off < ns.length;) {
  const caplen = ns.readUInt32LE(off + 8)
  for (let k = 0; k < 16; k += 4) swapped.writeUInt32BE(ns.readUInt32LE(off + k), off + k)
  off += 16 + caplen
}
const files = {
  'ns-le': ns,
  'us-le': us,
  'ns-be': swapped,
  'cut-record': ns.subarray(0, ns.length - 9),
  'cut-header': ns.subarray(0, 24 + 10),
  'sll2': w.pcapBytes(w.LINKTYPE.LINUX_SLL2, [{ tsNs: t0, data: b.sll2(b.ipv4('10.0.0.1', '10.0.0.2', b.udp(1, 2, 3)), 4) }]),
  'raw': w.pcapBytes(w.LINKTYPE.RAW, [{ tsNs: t0, data: b.ipv4('10.0.0.1', '10.0.0.2', b.icmp(8, 0, 1, 8)) }])
}
for (const [name, bytes] of Object.entries(files)) writeFileSync(join(readerDir, `${name}.bin`), bytes)  // not .pcap: .gitignore keeps captures out
console.log(`wrote ${Object.keys(files).length} seeds to ${readerDir}`)

// The real captures in test/fixtures/pcap are seeds too (kernel-made options, MLD, SLL2).
for (const name of ['netns-ethernet', 'netns-any-sll2']) {
  writeFileSync(join(readerDir, `fixture-${name}.bin`), readFileSync(join(root, `test/fixtures/pcap/${name}.pcap`)))
}
