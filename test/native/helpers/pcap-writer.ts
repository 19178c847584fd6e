// Writes pcap (nanosecond magic) and pcapng files, so tests and benchmarks generate their own captures.
import { closeSync, openSync, writeSync } from 'node:fs'

/** Link types as written in files (LINKTYPE_*). */
export const LINKTYPE = Object.freeze({ ETHERNET: 1, RAW: 101, LINUX_SLL: 113, LINUX_SLL2: 276 })

/** One packet: time in nanoseconds since the epoch and its bytes. */
export interface CapturedPacket {
  tsNs: bigint
  data: Buffer
  /** Original length on the wire (defaults to data.length). */
  wireLength?: number
}

/** pcap file bytes (magic a1b23c4d: nanosecond timestamps). */
export function pcapBytes (linkType: number, packets: CapturedPacket[], snaplen = 65535): Buffer {
  const parts: Buffer[] = [pcapHeader(linkType, snaplen)]
  for (const p of packets) parts.push(pcapRecord(p))
  return Buffer.concat(parts)
}

export function pcapHeader (linkType: number, snaplen = 65535): Buffer {
  const h = Buffer.alloc(24)
  h.writeUInt32LE(0xa1b23c4d, 0)
  h.writeUInt16LE(2, 4)
  h.writeUInt16LE(4, 6)
  h.writeUInt32LE(snaplen, 16)
  h.writeUInt32LE(linkType, 20)
  return h
}

export function pcapRecord (p: CapturedPacket): Buffer {
  const h = Buffer.alloc(16)
  h.writeUInt32LE(Number(p.tsNs / 1_000_000_000n), 0)
  h.writeUInt32LE(Number(p.tsNs % 1_000_000_000n), 4)
  h.writeUInt32LE(p.data.length, 8)
  h.writeUInt32LE(p.wireLength ?? p.data.length, 12)
  return Buffer.concat([h, p.data])
}

function pad4 (b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - b.length % 4) % 4)])
}

function block (type: number, body: Buffer): Buffer {
  const len = 12 + body.length
  const b = Buffer.alloc(len)
  b.writeUInt32LE(type, 0)
  b.writeUInt32LE(len, 4)
  body.copy(b, 8)
  b.writeUInt32LE(len, len - 4)
  return b
}

/** pcapng bytes: one section, one interface (if_tsresol 9 = nanoseconds), enhanced packet blocks. */
export function pcapngBytes (linkType: number, packets: CapturedPacket[]): Buffer {
  const shb = Buffer.alloc(16)
  shb.writeUInt32LE(0x1a2b3c4d, 0)
  shb.writeUInt16LE(1, 4)
  shb.writeUInt16LE(0, 6)
  shb.writeBigInt64LE(-1n, 8)
  const idb = Buffer.alloc(8 + 8 + 4)
  idb.writeUInt16LE(linkType, 0)
  idb.writeUInt32LE(65535, 4)
  idb.writeUInt16LE(9, 8)       // if_tsresol
  idb.writeUInt16LE(1, 10)
  idb[12] = 9                    // 10^-9
  idb.writeUInt16LE(0, 16)      // opt_endofopt
  const parts = [block(0x0a0d0d0a, shb), block(1, idb.subarray(0, 20))]
  for (const p of packets) {
    const h = Buffer.alloc(20)
    h.writeUInt32LE(0, 0)
    h.writeUInt32LE(Number(p.tsNs >> 32n), 4)
    h.writeUInt32LE(Number(p.tsNs & 0xffffffffn), 8)
    h.writeUInt32LE(p.data.length, 12)
    h.writeUInt32LE(p.wireLength ?? p.data.length, 16)
    parts.push(block(6, Buffer.concat([h, pad4(p.data)])))
  }
  return Buffer.concat(parts)
}

/** Streams a large pcap file without holding it in memory. */
export class PcapFileWriter {
  private readonly fd: number
  private chunks: Buffer[] = []
  private pending = 0
  bytesWritten = 0
  packets = 0

  constructor (path: string, linkType: number) {
    this.fd = openSync(path, 'w')
    this.push(pcapHeader(linkType))
  }

  write (p: CapturedPacket): void {
    this.push(pcapRecord(p))
    this.packets++
  }

  private push (b: Buffer): void {
    this.chunks.push(b)
    this.pending += b.length
    if (this.pending >= 1 << 22) this.flush()
  }

  private flush (): void {
    const all = Buffer.concat(this.chunks)
    writeSync(this.fd, all)
    this.bytesWritten += all.length
    this.chunks = []
    this.pending = 0
  }

  close (): void {
    this.flush()
    closeSync(this.fd)
  }
}
