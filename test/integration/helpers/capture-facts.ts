// What a capture contains, computed independently of the agent (no tap, no addon): a tiny pcap reader that
// groups IPv4 packets into conversations (initiator = sender of the first packet of a 5-tuple), and a rewriter
// that moves a capture's timestamps so it happened a moment ago (the aggregator refuses flows older than its
// retention window). The system tests compare the aggregator's totals with these facts.
import { readFileSync, writeFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'

/** One IPv4 packet of a capture, as far as flow accounting goes. */
export interface CapturePacket {
  tsNs: bigint
  proto: 'tcp' | 'udp' | 'icmp' | string
  srcIp: string
  dstIp: string
  srcPort: number
  dstPort: number
  /** The IPv4 total length (what flow logs count as bytes). */
  ipBytes: number
}

/** One conversation: the packets of a 5-tuple in both directions, oriented from its initiator. */
export interface Conversation {
  proto: string
  clientIp: string
  serverIp: string
  clientPort: number
  serverPort: number
  packetsForward: number
  bytesForward: number
  packetsReverse: number
  bytesReverse: number
  firstNs: bigint
  lastNs: bigint
}

interface PcapLayout {
  littleEndian: boolean
  nanoseconds: boolean
  linkType: number
}

function layoutOf (buf: Buffer): PcapLayout {
  const le = buf.readUInt32LE(0)
  const be = buf.readUInt32BE(0)
  if (le === 0xa1b2c3d4 || le === 0xa1b23c4d) return { littleEndian: true, nanoseconds: le === 0xa1b23c4d, linkType: buf.readUInt32LE(20) }
  if (be === 0xa1b2c3d4 || be === 0xa1b23c4d) return { littleEndian: false, nanoseconds: be === 0xa1b23c4d, linkType: buf.readUInt32BE(20) }
  throw new Error('not a pcap file (pcapng is not supported by this helper)')
}

/** Calls `each(recordOffset, tsNs, data)` for every record; data is the captured bytes. */
function forEachRecord (buf: Buffer, each: (offset: number, tsNs: bigint, data: Buffer) => void): PcapLayout {
  const layout = layoutOf(buf)
  const u32 = (o: number): number => layout.littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o)
  for (let o = 24; o + 16 <= buf.length;) {
    const sec = BigInt(u32(o))
    const frac = BigInt(u32(o + 4))
    const caplen = u32(o + 8)
    const tsNs = sec * 1_000_000_000n + (layout.nanoseconds ? frac : frac * 1000n)
    each(o, tsNs, buf.subarray(o + 16, o + 16 + caplen))
    o += 16 + caplen
  }
  return layout
}

function ipv4 (b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' }

/** The IPv4 packets of an Ethernet (or raw IP) pcap file; everything else is skipped. */
export function readCapturePackets (path: string): CapturePacket[] {
  const packets: CapturePacket[] = []
  const buf = readFileSync(path)
  const { linkType } = layoutOf(buf)
  forEachRecord(buf, (_offset, tsNs, data) => {
    let o = 0
    if (linkType === 1) {
      let type = data.readUInt16BE(12)
      o = 14
      while (type === 0x8100 || type === 0x88a8) { type = data.readUInt16BE(o + 2); o += 4 }
      if (type !== 0x0800) return
    } else if (linkType !== 101) {
      throw new Error(`link type ${linkType} is not supported by this helper`)
    }
    if (data.length < o + 20 || (data[o] as number) >> 4 !== 4) return
    const ihl = ((data[o] as number) & 0x0f) * 4
    const protoNumber = data[o + 9] as number
    const l4 = o + ihl
    const ports = (protoNumber === 6 || protoNumber === 17 || protoNumber === 132) && data.length >= l4 + 4
    packets.push({
      tsNs,
      proto: PROTOCOLS[protoNumber] ?? String(protoNumber),
      srcIp: ipv4(data, o + 12),
      dstIp: ipv4(data, o + 16),
      srcPort: ports ? data.readUInt16BE(l4) : 0,
      dstPort: ports ? data.readUInt16BE(l4 + 2) : 0,
      ipBytes: data.readUInt16BE(o + 2)
    })
  })
  return packets
}

/** Groups packets into conversations, each oriented from the sender of its first packet. */
export function conversationsOf (packets: readonly CapturePacket[]): Conversation[] {
  const byTuple = new Map<string, Conversation>()
  for (const p of packets) {
    const forward = `${p.proto} ${p.srcIp}:${p.srcPort} ${p.dstIp}:${p.dstPort}`
    const reverse = `${p.proto} ${p.dstIp}:${p.dstPort} ${p.srcIp}:${p.srcPort}`
    let c = byTuple.get(forward)
    let isForward = true
    if (c === undefined) {
      c = byTuple.get(reverse)
      isForward = false
    }
    if (c === undefined) {
      c = { proto: p.proto, clientIp: p.srcIp, serverIp: p.dstIp, clientPort: p.srcPort, serverPort: p.dstPort, packetsForward: 0, bytesForward: 0, packetsReverse: 0, bytesReverse: 0, firstNs: p.tsNs, lastNs: p.tsNs }
      byTuple.set(forward, c)
      isForward = true
    }
    if (isForward) { c.packetsForward++; c.bytesForward += p.ipBytes } else { c.packetsReverse++; c.bytesReverse += p.ipBytes }
    if (p.tsNs > c.lastNs) c.lastNs = p.tsNs
  }
  return [...byTuple.values()]
}

/**
 * Writes a copy of a pcap file whose first packet is at `firstPacketNs` (every gap kept). The record timestamps
 * keep the file's resolution (µs or ns).
 */
export function restampPcap (input: string, output: string, firstPacketNs: bigint): void {
  const buf = Buffer.from(readFileSync(input))
  restampInPlace(buf, firstPacketNs)
  writeFileSync(output, buf)
}

function restampInPlace (buf: Buffer, firstPacketNs: bigint): void {
  const layout = layoutOf(buf)
  let shift: bigint | undefined
  forEachRecord(buf, (offset, tsNs) => {
    shift ??= firstPacketNs - tsNs
    const t = tsNs + shift
    const sec = Number(t / 1_000_000_000n)
    const frac = Number(layout.nanoseconds ? t % 1_000_000_000n : (t % 1_000_000_000n) / 1000n)
    if (layout.littleEndian) { buf.writeUInt32LE(sec, offset); buf.writeUInt32LE(frac, offset + 4) } else { buf.writeUInt32BE(sec, offset); buf.writeUInt32BE(frac, offset + 4) }
  })
}

/** A pod as the flow logs name it. */
export interface PodFacts { namespace: string, name: string, node: string }

/** Flow-log totals of one (reporter, source, destination, protocol, port). */
export interface ExpectedTotals {
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  connections: number
}

/** The identity the system tests compare by: everything of a FlowKey but the verdicts and traces. */
export function totalsKey (reporter: string, src: string, dst: string, proto: string, port: number): string {
  return `${reporter} ${src} -> ${dst} ${proto}/${port}`
}

/**
 * What the flow logs must add up to, per totalsKey, when every pod's node reports its own end (as Felix does):
 * the source's node reports Src (out = forward), the destination's node reports Dst (in = forward).
 * `nodes` restricts to the ends local to those nodes. Only pod-to-pod conversations are supported.
 */
export function expectedFlowTotals (conversations: readonly Conversation[], podsByIp: ReadonlyMap<string, PodFacts>, nodes?: ReadonlySet<string>): Map<string, ExpectedTotals> {
  const out = new Map<string, ExpectedTotals>()
  const add = (key: string, t: ExpectedTotals): void => {
    const e = out.get(key) ?? { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, connections: 0 }
    e.packetsIn += t.packetsIn; e.packetsOut += t.packetsOut; e.bytesIn += t.bytesIn; e.bytesOut += t.bytesOut; e.connections += t.connections
    out.set(key, e)
  }
  for (const c of conversations) {
    const client = podsByIp.get(c.clientIp)
    const server = podsByIp.get(c.serverIp)
    if (client === undefined || server === undefined) throw new Error(`conversation ${c.clientIp} → ${c.serverIp} is not pod to pod`)
    const src = `${client.namespace}/${client.name}`
    const dst = `${server.namespace}/${server.name}`
    if (nodes === undefined || nodes.has(client.node)) {
      add(totalsKey('Src', src, dst, c.proto, c.serverPort), { packetsOut: c.packetsForward, packetsIn: c.packetsReverse, bytesOut: c.bytesForward, bytesIn: c.bytesReverse, connections: 1 })
    }
    if (nodes === undefined || nodes.has(server.node)) {
      add(totalsKey('Dst', src, dst, c.proto, c.serverPort), { packetsIn: c.packetsForward, packetsOut: c.packetsReverse, bytesIn: c.bytesForward, bytesOut: c.bytesReverse, connections: 1 })
    }
  }
  return out
}

/** Pods by IP from a pods.yaml (the inventory file itself, read with the yaml library, not the agent's loader). */
export function readPodsByIp (path: string): Map<string, PodFacts> {
  const pods = new Map<string, PodFacts>()
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    const pod = doc.toJS() as { kind?: string, metadata?: { name?: string, namespace?: string }, spec?: { nodeName?: string }, status?: { podIP?: string } } | null
    if (pod?.kind !== 'Pod' || pod.status?.podIP === undefined) continue
    pods.set(pod.status.podIP, { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', node: pod.spec?.nodeName ?? '' })
  }
  return pods
}

/** The records of a pcap file (without its 24-byte header), re-stamped so the first packet is at `firstPacketNs`. */
export function restampedRecords (input: string, firstPacketNs: bigint): Buffer {
  const buf = Buffer.from(readFileSync(input))
  restampInPlace(buf, firstPacketNs)
  return buf.subarray(24)
}

/** The 24-byte header of a pcap file. */
export function pcapHeaderOf (input: string): Buffer {
  return Buffer.from(readFileSync(input).subarray(0, 24))
}

/**
 * `count` one-packet UDP flows between two TEST-NET addresses (no pod, no node reports them) at `atNs`, as pcap
 * records of `header`'s format (Ethernet). They make a native pcap-file source publish its batch (it does so
 * every 1,024 records) and move its packet clock to `atNs`, which closes the intervals and idle flows before it.
 */
export function fillerRecords (header: Buffer, atNs: bigint, count = 1100): Buffer {
  const layout = layoutOf(header)
  const parts: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const frame = Buffer.alloc(14 + 28)
    frame.writeUInt16BE(0x0800, 12)
    const ip = 14
    frame[ip] = 0x45
    frame.writeUInt16BE(28, ip + 2)
    frame[ip + 8] = 64
    frame[ip + 9] = 17
    Buffer.from([192, 0, 2, 1]).copy(frame, ip + 12)
    Buffer.from([198, 51, 100, 1]).copy(frame, ip + 16)
    frame.writeUInt16BE(10_000 + i, ip + 20)
    frame.writeUInt16BE(9, ip + 22)
    frame.writeUInt16BE(8, ip + 24)
    const rec = Buffer.alloc(16)
    const t = atNs + BigInt(i) * 1000n
    const sec = Number(t / 1_000_000_000n)
    const frac = Number(layout.nanoseconds ? t % 1_000_000_000n : (t % 1_000_000_000n) / 1000n)
    const w = (v: number, o: number): void => { if (layout.littleEndian) rec.writeUInt32LE(v, o); else rec.writeUInt32BE(v, o) }
    w(sec, 0); w(frac, 4); w(frame.length, 8); w(frame.length, 12)
    parts.push(rec, frame)
  }
  return Buffer.concat(parts)
}
