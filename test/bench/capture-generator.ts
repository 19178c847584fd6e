// Generates a large, realistic pcap for the replay benchmark: interleaved TCP conversations (handshake,
// request/response rounds with full-size segments, FIN close) plus DNS-like UDP exchanges, written straight
// into big buffers (no per-packet allocation). Returns what it wrote, so a test can check the claim.
import { closeSync, openSync, writeSync } from 'node:fs'

/** What a generated capture contains. */
export interface GeneratedCapture {
  packets: number
  bytes: number
  tcpFlows: number
  udpFlows: number
  /** Sum of IP-layer bytes over all packets (what the flow table should count). */
  ipBytes: number
}

interface Conversation {
  client: Buffer  // 54-byte Ethernet+IPv4+TCP/UDP template, client → server
  server: Buffer  // server → client
  udp: boolean
  step: number
  rounds: number
  segments: number  // server segments per round
}

const ETH_IP_TCP = 54
const ETH_IP_UDP = 42

/** Deterministic xorshift32. */
function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 4294967296
  }
}

function template (src: number, dst: number, sport: number, dport: number, udp: boolean): Buffer {
  const b = Buffer.alloc(udp ? ETH_IP_UDP : ETH_IP_TCP)
  b.writeUInt16BE(0x0800, 12)
  b[14] = 0x45
  b[22] = 64
  b[23] = udp ? 17 : 6
  b.writeUInt32BE(src, 26)
  b.writeUInt32BE(dst, 30)
  b.writeUInt16BE(sport, 34)
  b.writeUInt16BE(dport, 36)
  if (!udp) { b[46] = 0x50; b.writeUInt16BE(65535, 48) }
  return b
}

/**
 * Writes about `targetBytes` of capture to `path`: `concurrent` conversations at a time between addresses in
 * 10.99.0.0/16 (records only; nothing is sent), timestamps 2 µs apart.
 */
export function generateCapture (path: string, targetBytes: number, concurrent = 5000, seed = 7): GeneratedCapture {
  const random = rng(seed)
  const fd = openSync(path, 'w')
  const CHUNK = 8 << 20
  let chunk = Buffer.alloc(CHUNK)
  let pos = 0
  const header = Buffer.alloc(24)
  header.writeUInt32LE(0xa1b23c4d, 0)
  header.writeUInt16LE(2, 4)
  header.writeUInt16LE(4, 6)
  header.writeUInt32LE(65535, 16)
  header.writeUInt32LE(1, 20)
  header.copy(chunk, 0)
  pos = 24
  const out: GeneratedCapture = { packets: 0, bytes: 24, tcpFlows: 0, udpFlows: 0, ipBytes: 0 }
  let ts = 1_700_000_000n * 1_000_000_000n
  let nextPort = 1024

  const fresh = (): Conversation => {
    const udp = random() < 0.2
    const client = 0x0a630000 + 1 + Math.floor(random() * 4000)
    const server = 0x0a630000 + 10000 + Math.floor(random() * 200)
    const sport = nextPort
    nextPort = nextPort >= 65000 ? 1024 : nextPort + 1
    const dport = udp ? 53 : [80, 443, 8080, 5432][Math.floor(random() * 4)]!
    if (udp) out.udpFlows++; else out.tcpFlows++
    return {
      client: template(client, server, sport, dport, udp),
      server: template(server, client, dport, sport, udp),
      udp,
      step: 0,
      rounds: udp ? 1 : 1 + Math.floor(random() * 4),
      segments: udp ? 1 : 1 + Math.floor(random() * 6)
    }
  }

  const emit = (t: Buffer, flags: number, payload: number): void => {
    const caplen = t.length + payload
    if (pos + 16 + caplen > CHUNK) {
      writeSync(fd, chunk, 0, pos)
      chunk = Buffer.alloc(CHUNK)
      pos = 0
    }
    ts += 2000n
    chunk.writeUInt32LE(Number(ts / 1_000_000_000n), pos)
    chunk.writeUInt32LE(Number(ts % 1_000_000_000n), pos + 4)
    chunk.writeUInt32LE(caplen, pos + 8)
    chunk.writeUInt32LE(caplen, pos + 12)
    t.copy(chunk, pos + 16)
    const ipLen = caplen - 14
    chunk.writeUInt16BE(ipLen, pos + 16 + 16)
    if (t.length === ETH_IP_TCP) chunk[pos + 16 + 47] = flags
    else chunk.writeUInt16BE(ipLen - 20, pos + 16 + 38)
    pos += 16 + caplen
    out.packets++
    out.bytes += 16 + caplen
    out.ipBytes += ipLen
  }

  // One packet of a conversation per call; returns false when the conversation is over.
  const advance = (c: Conversation): boolean => {
    if (c.udp) {
      if (c.step === 0) emit(c.client, 0, 40)
      else emit(c.server, 0, 120)
      return ++c.step < 2
    }
    const s = c.step++
    if (s === 0) { emit(c.client, 0x02, 0); return true }
    if (s === 1) { emit(c.server, 0x12, 0); return true }
    if (s === 2) { emit(c.client, 0x10, 0); return true }
    const perRound = c.segments + 2  // request, segments, ack
    const r = s - 3
    if (r < c.rounds * perRound) {
      const k = r % perRound
      if (k === 0) emit(c.client, 0x18, 200 + Math.floor(random() * 300))
      else if (k <= c.segments) emit(c.server, 0x10, k === c.segments ? 1 + Math.floor(random() * 1448) : 1448)
      else emit(c.client, 0x10, 0)
      return true
    }
    const f = r - c.rounds * perRound
    if (f === 0) { emit(c.client, 0x11, 0); return true }
    if (f === 1) { emit(c.server, 0x11, 0); return true }
    emit(c.client, 0x10, 0)
    return false
  }

  const live: Conversation[] = []
  for (let i = 0; i < concurrent; i++) live.push(fresh())
  while (out.bytes < targetBytes) {
    const i = Math.floor(random() * live.length)
    if (!advance(live[i]!)) live[i] = fresh()
  }
  // Finish every open conversation so the capture ends cleanly.
  for (const c of live) while (advance(c));
  writeSync(fd, chunk, 0, pos)
  closeSync(fd)
  return out
}
