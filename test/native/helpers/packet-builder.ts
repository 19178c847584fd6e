// Builds real packet bytes (Ethernet, 802.1Q, SLL/SLL2, IPv4 with options and fragments, IPv6 with extension
// headers, TCP, UDP, SCTP, ICMP, ICMPv6) so tests make their own captures instead of committing big fixtures.

/** An IPv4 or IPv6 address in text form. */
export type Address = string

export interface L4 {
  protocol: number
  /** Transport header + payload bytes. */
  bytes: Buffer
}

/** Parses an IPv4 dotted quad or an IPv6 address (with ::) into bytes. */
export function addressBytes (address: Address): Buffer {
  if (address.includes(':')) {
    const [head, tail] = address.split('::') as [string, string | undefined]
    const groups = (s: string | undefined): number[] => (s === undefined || s === '') ? [] : s.split(':').map(g => parseInt(g, 16))
    const h = groups(head)
    const t = groups(tail)
    const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t]
    const out = Buffer.alloc(16)
    all.forEach((g, i) => out.writeUInt16BE(g, i * 2))
    return out
  }
  return Buffer.from(address.split('.').map(Number))
}

export function tcp (sport: number, dport: number, flags: number, payload = 0): L4 {
  const b = Buffer.alloc(20 + payload)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  b.writeUInt32BE(1000, 4)
  b[12] = 5 << 4
  b[13] = flags
  b.writeUInt16BE(65535, 14)
  return { protocol: 6, bytes: b }
}

export function udp (sport: number, dport: number, payload = 0): L4 {
  const b = Buffer.alloc(8 + payload)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  b.writeUInt16BE(8 + payload, 4)
  return { protocol: 17, bytes: b }
}

export function sctp (sport: number, dport: number, payload = 0): L4 {
  const b = Buffer.alloc(12 + payload)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  return { protocol: 132, bytes: b }
}

/** ICMP (v4) or ICMPv6 (`v6`) message; echo types carry `id`. */
export function icmp (type: number, code: number, id = 0, payload = 0, v6 = false): L4 {
  const b = Buffer.alloc(8 + payload)
  b[0] = type
  b[1] = code
  b.writeUInt16BE(id, 4)
  return { protocol: v6 ? 58 : 1, bytes: b }
}

export interface Ipv4Options {
  /** Header option bytes (padded to a multiple of 4). */
  options?: Buffer
  id?: number
  /** Fragment offset in bytes (multiple of 8). */
  fragmentOffset?: number
  moreFragments?: boolean
  /** Overrides the protocol (for fragments that carry no transport header). */
  protocol?: number
}

export function ipv4 (src: Address, dst: Address, l4: L4, opts: Ipv4Options = {}): Buffer {
  const options = opts.options ?? Buffer.alloc(0)
  const padded = Buffer.concat([options, Buffer.alloc((4 - options.length % 4) % 4)])
  const ihl = 20 + padded.length
  const h = Buffer.alloc(ihl)
  h[0] = 0x40 | (ihl / 4)
  h.writeUInt16BE(ihl + l4.bytes.length, 2)
  h.writeUInt16BE(opts.id ?? 1, 4)
  h.writeUInt16BE(((opts.moreFragments ?? false) ? 0x2000 : 0) | ((opts.fragmentOffset ?? 0) >> 3), 6)
  h[8] = 64
  h[9] = opts.protocol ?? l4.protocol
  addressBytes(src).copy(h, 12)
  addressBytes(dst).copy(h, 16)
  padded.copy(h, 20)
  return Buffer.concat([h, l4.bytes])
}

/** IPv6 extension header to put before the transport header. */
export type Ipv6Extension =
  | { type: 'hopByHop' | 'destination' | 'routing', length?: number }
  | { type: 'fragment', offset: number, more: boolean, id: number }

export function ipv6 (src: Address, dst: Address, l4: L4, extensions: Ipv6Extension[] = [], protocolOverride?: number): Buffer {
  const codes = extensions.map(e => ({ hopByHop: 0, routing: 43, fragment: 44, destination: 60 })[e.type])
  const parts: Buffer[] = []
  extensions.forEach((e, i) => {
    const next = i + 1 < codes.length ? codes[i + 1]! : (protocolOverride ?? l4.protocol)
    if (e.type === 'fragment') {
      const b = Buffer.alloc(8)
      b[0] = next
      b.writeUInt16BE((e.offset & 0xfff8) | (e.more ? 1 : 0), 2)
      b.writeUInt32BE(e.id, 4)
      parts.push(b)
    } else {
      const units = e.length ?? 0
      const b = Buffer.alloc((units + 1) * 8)
      b[0] = next
      b[1] = units
      if (e.type === 'routing') b[2] = 0
      else { b[2] = 1; b[3] = b.length - 4 }  // PadN option filling the header
      parts.push(b)
    }
  })
  const payload = Buffer.concat([...parts, l4.bytes])
  const h = Buffer.alloc(40)
  h[0] = 0x60
  h.writeUInt16BE(payload.length, 4)
  h[6] = codes.length > 0 ? codes[0]! : (protocolOverride ?? l4.protocol)
  h[7] = 64
  addressBytes(src).copy(h, 8)
  addressBytes(dst).copy(h, 24)
  return Buffer.concat([h, payload])
}

/** Ethernet II frame around an IP packet, with optional VLAN tags (outer first; 0x88a8 for an S-tag). */
export function ethernet (ip: Buffer, vlans: Array<{ tpid?: number, vid: number }> = []): Buffer {
  const h = Buffer.alloc(12 + vlans.length * 4 + 2)
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(h, 0)
  vlans.forEach((v, i) => {
    h.writeUInt16BE(v.tpid ?? 0x8100, 12 + i * 4)
    h.writeUInt16BE(v.vid, 14 + i * 4)
  })
  h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 12 + vlans.length * 4)
  return Buffer.concat([h, ip])
}

/** Ethernet frame of another ethertype (ARP etc.). */
export function ethernetOther (etherType: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14)
  h.writeUInt16BE(etherType, 12)
  return Buffer.concat([h, payload])
}

/** Linux cooked capture v1 header. */
export function sll (ip: Buffer): Buffer {
  const h = Buffer.alloc(16)
  h.writeUInt16BE(0, 0)
  h.writeUInt16BE(1, 2)
  h.writeUInt16BE(6, 4)
  h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 14)
  return Buffer.concat([h, ip])
}

/** Linux cooked capture v2 header (carries the interface index). */
export function sll2 (ip: Buffer, ifindex: number): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 0)
  h.writeUInt32BE(ifindex, 4)
  h.writeUInt16BE(1, 8)
  h[11] = 6
  return Buffer.concat([h, ip])
}

/** TCP flag values. */
export const FIN = 0x01
export const SYN = 0x02
export const RST = 0x04
export const PSH = 0x08
export const ACK = 0x10
