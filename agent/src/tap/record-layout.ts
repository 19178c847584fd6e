// Mirror of native/include/flow-record.h: offsets of the fixed 128-byte record and the 16-byte batch header.
// RECORD_LAYOUT_VERSION must equal SF_RECORD_LAYOUT_VERSION; the addon loader refuses a mismatch.
import type { FlowEndReason, FlowRecord, FlowRecordKind } from '../flows/flow-record.js'

/** Must equal SF_RECORD_LAYOUT_VERSION in flow-record.h. */
export const RECORD_LAYOUT_VERSION = 2
/** Bytes per record (SF_RECORD_SIZE). */
export const RECORD_SIZE = 128
/** Bytes of the header written before the records of each batch. */
export const BATCH_HEADER_SIZE = 16
/** "SFRB" little-endian. */
export const BATCH_MAGIC = 0x42524653

/** Byte offsets of the record fields (see flow-record.h). */
export const OFFSET = Object.freeze({
  layoutVersion: 0,
  kind: 2,
  endReason: 3,
  family: 4,
  protocol: 5,
  tcpFlagsFwd: 6,
  tcpFlagsRev: 7,
  ifindex: 8,
  srcPort: 12,
  dstPort: 14,
  srcAddr: 16,
  dstAddr: 32,
  packetsFwd: 48,
  bytesFwd: 56,
  packetsRev: 64,
  bytesRev: 72,
  firstSeenNs: 80,
  lastSeenNs: 88,
  flowId: 96,
  state: 104,
  icmpType: 108,
  icmpCode: 109,
  fragments: 110,
  nameId: 112,
  slot: 116
})

const KINDS: readonly FlowRecordKind[] = ['start', 'start', 'update', 'end', 'evicted']
const END_REASONS: readonly FlowEndReason[] = ['none', 'idle', 'tcpClosed', 'flush']
const TWO_32 = 4294967296

// Direct-mapped cache of IPv4 text forms: flows repeat addresses, and building strings dominates decoding
// otherwise. A slot holds the address (as uint32) and its string; a collision simply overwrites.
const IPV4_CACHE_BITS = 14
const ipv4Keys = new Uint32Array(1 << IPV4_CACHE_BITS)
const ipv4Strings: Array<string | undefined> = new Array<string | undefined>(1 << IPV4_CACHE_BITS).fill(undefined)

function ipv4 (u8: Uint8Array, off: number): string {
  const a = u8[off]!
  const b = u8[off + 1]!
  const c = u8[off + 2]!
  const d = u8[off + 3]!
  const key = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
  // Multiplicative hash of the whole address: nearby addresses (a /16 of pods) spread over every slot. (Mixing the
  // octets by shifts and OR left most of 10.244.0.0/16 on a few hundred slots, and strings were built per record.)
  const slot = Math.imul(key, 0x9e3779b1) >>> (32 - IPV4_CACHE_BITS)
  const cached = ipv4Strings[slot]
  if (cached !== undefined && ipv4Keys[slot] === key) return cached
  const s = `${a}.${b}.${c}.${d}`
  ipv4Keys[slot] = key
  ipv4Strings[slot] = s
  return s
}

/** RFC 5952 text form of the 16 bytes at `off`: lower-case hex, longest run of ≥2 zero groups as `::`. */
export function formatIpv6 (u8: Uint8Array, off: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push((u8[off + 2 * i]! << 8) | u8[off + 2 * i + 1]!)
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${u8[off + 12]}.${u8[off + 13]}.${u8[off + 14]}.${u8[off + 15]}`
  }
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/**
 * The 64-bit little-endian integer at word `i`. Small values (nearly all counters and flow ids) come out as the
 * 32-bit word itself, which V8 keeps as a small integer; the float arithmetic is only for values beyond 2^32 —
 * a float result stored into the record made every flow-id Map lookup hash a heap number.
 */
function u64 (u32: Uint32Array, i: number): number {
  const high = u32[i + 1]!
  return high === 0 ? u32[i]! : u32[i]! + high * TWO_32
}

/** Decodes records out of one reusable batch buffer (header + records), without copying the bytes. */
export class RecordDecoder {
  private readonly u8: Uint8Array
  private readonly u16: Uint16Array
  private readonly u32: Uint32Array

  /** `buffer` must start on a 4-byte boundary of its ArrayBuffer (allocate it with `allocateBatchBuffer`). */
  constructor (buffer: Uint8Array) {
    if (buffer.byteOffset % 8 !== 0) throw new RangeError('batch buffer must be 8-byte aligned')
    this.u8 = buffer
    this.u16 = new Uint16Array(buffer.buffer, buffer.byteOffset, buffer.byteLength >>> 1)
    this.u32 = new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength >>> 2)
  }

  /** Number of records the batch header announces, after checking magic, version and record size. */
  count (): number {
    const u32 = this.u32
    if (u32[0] !== BATCH_MAGIC) throw new RangeError('not a flow-record batch (bad magic)')
    const version = this.u16[2]
    const size = this.u16[3]
    if (version !== RECORD_LAYOUT_VERSION || size !== RECORD_SIZE) {
      throw new RangeError(`flow-record batch has layout ${version}/${size}, expected ${RECORD_LAYOUT_VERSION}/${RECORD_SIZE}`)
    }
    return u32[2]!
  }

  /** Decodes record `i` of the batch into a new plain object. */
  record (i: number): FlowRecord {
    return this.recordInto(i, emptyRecord())
  }

  /**
   * Decodes record `i` into `into` (every field overwritten) and returns it. The agent's pipeline reuses one
   * object for every record: a fresh 25-field object per record was the largest allocation on the hot path.
   */
  recordInto (i: number, into: FlowRecord): FlowRecord {
    const base = BATCH_HEADER_SIZE + i * RECORD_SIZE
    const u8 = this.u8
    const w = base >>> 2  // index of the record's first 32-bit word
    const h = base >>> 1
    const u32 = this.u32
    const u16 = this.u16
    const family = u8[base + OFFSET.family] === 6 ? 6 : 4
    into.kind = KINDS[u8[base + OFFSET.kind]!] ?? 'start'
    into.endReason = END_REASONS[u8[base + OFFSET.endReason]!] ?? 'none'
    into.family = family
    into.protocol = u8[base + OFFSET.protocol]!
    into.srcAddr = family === 4 ? ipv4(u8, base + OFFSET.srcAddr) : formatIpv6(u8, base + OFFSET.srcAddr)
    into.dstAddr = family === 4 ? ipv4(u8, base + OFFSET.dstAddr) : formatIpv6(u8, base + OFFSET.dstAddr)
    // Ports are stored in host (little-endian) order, as every other integer of the record.
    into.srcPort = u16[h + 6]!
    into.dstPort = u16[h + 7]!
    into.ifindex = u32[w + 2]!
    into.nameId = u32[w + 28]!
    into.packetsFwd = u64(u32, w + 12)
    into.bytesFwd = u64(u32, w + 14)
    into.packetsRev = u64(u32, w + 16)
    into.bytesRev = u64(u32, w + 18)
    into.firstSeenMs = (u32[w + 20]! + u32[w + 21]! * TWO_32) / 1e6
    into.lastSeenMs = (u32[w + 22]! + u32[w + 23]! * TWO_32) / 1e6
    into.flowId = u64(u32, w + 24)
    into.tcpFlagsFwd = u8[base + OFFSET.tcpFlagsFwd]!
    into.tcpFlagsRev = u8[base + OFFSET.tcpFlagsRev]!
    into.state = u32[w + 26]!
    into.icmpType = u8[base + OFFSET.icmpType]!
    into.icmpCode = u8[base + OFFSET.icmpCode]!
    into.fragments = u16[h + 55]!
    into.slot = u32[w + 29]!
    return into
  }
}

/**
 * A record object to decode into, every field present from the start (one hidden class for all records). The
 * clock fields start as fractions, as they will be, so their representation never has to change.
 */
export function emptyRecord (): FlowRecord {
  return {
    kind: 'start', endReason: 'none', family: 4, protocol: 0, srcAddr: '', dstAddr: '', srcPort: 0, dstPort: 0, ifindex: 0, nameId: 0,
    packetsFwd: 0, bytesFwd: 0, packetsRev: 0, bytesRev: 0, firstSeenMs: 0.5, lastSeenMs: 0.5, flowId: 0,
    tcpFlagsFwd: 0, tcpFlagsRev: 0, state: 0, icmpType: 0, icmpCode: 0, fragments: 0, slot: 0
  }
}

/** An 8-byte-aligned buffer for `records` records plus the batch header. */
export function allocateBatchBuffer (records: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(BATCH_HEADER_SIZE + records * RECORD_SIZE))
}
