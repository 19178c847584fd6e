// IPv4/IPv6 addresses and CIDRs as numbers, so that `nets` matching on the hot path is integer arithmetic.
// IPv4 fits a JS number exactly; IPv6 uses bigint. Parsing is strict (no leading zeros in IPv4 octets, as the
// Go net package since 1.17), because a CIDR that Calico rejects must be rejected here too.

/** A parsed address: IPv4 as a 32-bit unsigned number, IPv6 as a 128-bit bigint. */
export type IpAddress = { readonly version: 4, readonly value: number } | { readonly version: 6, readonly value: bigint }

/** A parsed CIDR; the prefix is masked (Calico matches CIDRs with host bits set on their masked prefix). */
export type Cidr =
  | { readonly version: 4, readonly base: number, readonly prefixLength: number, readonly text: string }
  | { readonly version: 6, readonly base: bigint, readonly prefixLength: number, readonly text: string }

const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

function parseIpv4 (text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!IPV4_OCTET.test(part)) return undefined
    value = value * 256 + Number(part)
  }
  return value
}

function parseIpv6 (text: string): bigint | undefined {
  if (text.length < 2 || text.includes('%')) return undefined
  let head = text
  let tailV4: number | undefined
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    tailV4 = parseIpv4(text.slice(lastColon + 1))
    if (tailV4 === undefined) return undefined
    head = text.slice(0, lastColon + 1) + '0:0'
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const groupsOf = (s: string): string[] | undefined => s === '' ? [] : s.split(':')
  const left = groupsOf(halves[0] ?? '')
  const right = halves.length === 2 ? groupsOf(halves[1] ?? '') : []
  if (left === undefined || right === undefined) return undefined
  const missing = 8 - left.length - right.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right]
  let value = 0n
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    value = (value << 16n) | BigInt(parseInt(g, 16))
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | BigInt(tailV4)
  return value
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIp (text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const v = parseIpv6(text)
    return v === undefined ? undefined : { version: 6, value: v }
  }
  const v = parseIpv4(text)
  return v === undefined ? undefined : { version: 4, value: v }
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is a host CIDR, as Calico accepts); undefined when invalid. */
export function parseCidr (text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const addressText = slash < 0 ? text : text.slice(0, slash)
  const ip = parseIp(addressText)
  if (ip === undefined) return undefined
  const max = ip.version === 4 ? 32 : 128
  let prefixLength = max
  if (slash >= 0) {
    const p = text.slice(slash + 1)
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined
    prefixLength = Number(p)
    if (prefixLength > max) return undefined
  }
  if (ip.version === 4) {
    const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0
    return { version: 4, base: (ip.value & mask) >>> 0, prefixLength, text }
  }
  const mask = prefixLength === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefixLength)) - 1n)
  return { version: 6, base: ip.value & mask, prefixLength, text }
}

/** True when `ip` lies inside `cidr` (different families never match). */
export function cidrContains (cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.version === 4) {
    if (ip.version !== 4) return false
    const mask = cidr.prefixLength === 0 ? 0 : (0xffffffff << (32 - cidr.prefixLength)) >>> 0
    return ((ip.value & mask) >>> 0) === cidr.base
  }
  if (ip.version !== 6) return false
  const shift = BigInt(128 - cidr.prefixLength)
  return (ip.value >> shift) === (cidr.base >> shift)
}

/** True when `inner` is entirely inside `outer` (for ipBlock `except` validation). */
export function cidrCovers (outer: Cidr, inner: Cidr): boolean {
  if (outer.version !== inner.version || inner.prefixLength < outer.prefixLength) return false
  return inner.version === 4
    ? cidrContains(outer, { version: 4, value: inner.base })
    : cidrContains(outer, { version: 6, value: inner.base })
}

/** Canonical text of an address (IPv6 compressed as RFC 5952), used as a map key. */
export function formatIp (ip: IpAddress): string {
  if (ip.version === 4) {
    const v = ip.value
    return `${Math.floor(v / 16777216) % 256}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`
  }
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn))
  let bestStart = -1; let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}
