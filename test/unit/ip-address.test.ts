// Addresses and CIDRs as Calico parses them (Go's net package: no leading zeros in IPv4 octets, host bits of a
// CIDR masked away), containment for `nets` matching, coverage for ipBlock `except`, RFC 5952 text.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cidrContains, cidrCovers, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from '../../agent/src/policy/ip-address.js'

function ip (text: string): IpAddress {
  const parsed = parseIp(text)
  assert.ok(parsed !== undefined, `${text} should parse`)
  return parsed
}

function cidr (text: string): Cidr {
  const parsed = parseCidr(text)
  assert.ok(parsed !== undefined, `${text} should parse`)
  return parsed
}

const V6 = (hex: string): bigint => BigInt(`0x${hex}`)

test('parseIp: valid addresses', () => {
  const cases: Array<[string, IpAddress]> = [
    ['10.0.0.1', { version: 4, value: 167772161 }],
    ['0.0.0.0', { version: 4, value: 0 }],
    ['255.255.255.255', { version: 4, value: 4294967295 }],
    ['::', { version: 6, value: 0n }],
    ['::1', { version: 6, value: 1n }],
    ['fd00::3', { version: 6, value: V6('fd000000000000000000000000000003') }],
    ['2001:db8::ff00:42:8329', { version: 6, value: V6('20010db8000000000000ff0000428329') }],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', { version: 6, value: V6('20010db8000000000000ff0000428329') }],
    ['2001:DB8::1', { version: 6, value: V6('20010db8000000000000000000000001') }],
    ['::ffff:192.0.2.1', { version: 6, value: V6('00000000000000000000ffffc0000201') }],
    ['1:2:3:4:5:6:7::', { version: 6, value: V6('00010002000300040005000600070000') }],
    ['1:2:3:4:5:6:7:8', { version: 6, value: V6('00010002000300040005000600070008') }]
  ]
  for (const [text, expected] of cases) assert.deepEqual(parseIp(text), expected, text)
})

test('parseIp: invalid addresses are rejected', () => {
  for (const text of [
    '', '010.0.0.1', '1.2.3.04', '256.0.0.1', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '1.2.3.-1', ' 1.2.3.4',
    '1::2::3', '12345::', 'fe80::1%eth0', ':::', '1:2:3:4:5:6:7:8:9', ':1', '1:', 'g::1', '1:2:3:4:5:6:7:8::', '::1.2.3'
  ]) {
    assert.equal(parseIp(text), undefined, JSON.stringify(text))
  }
})

test('parseCidr: host bits are masked, the text is kept, a bare address is a host CIDR', () => {
  const cases: Array<[string, { version: 4 | 6, base: number | bigint, prefixLength: number }]> = [
    ['10.0.0.77/24', { version: 4, base: 167772160, prefixLength: 24 }],
    ['10.0.0.1', { version: 4, base: 167772161, prefixLength: 32 }],
    ['0.0.0.0/0', { version: 4, base: 0, prefixLength: 0 }],
    ['255.255.255.255/1', { version: 4, base: 2147483648, prefixLength: 1 }],
    ['fd00::3:0/64', { version: 6, base: V6('fd000000000000000000000000000000'), prefixLength: 64 }],
    ['::/0', { version: 6, base: 0n, prefixLength: 0 }],
    ['fd00::1', { version: 6, base: V6('fd000000000000000000000000000001'), prefixLength: 128 }]
  ]
  for (const [text, expected] of cases) {
    assert.deepEqual(parseCidr(text), { ...expected, text }, text)
  }
})

test('parseCidr: invalid prefixes and addresses are rejected', () => {
  for (const text of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '10.0.0.0/', '10.0.0.0/ 8', 'fd00::/129', '10.0.0/8', '/8', '10.0.0.0/8/8']) {
    assert.equal(parseCidr(text), undefined, text)
  }
})

test('cidrContains: IPv4 and IPv6, edges, families never mix', () => {
  const cases: Array<[string, string, boolean]> = [
    ['10.0.0.0/24', '10.0.0.255', true],
    ['10.0.0.0/24', '10.0.1.0', false],
    ['10.0.0.77/24', '10.0.0.1', true],
    ['10.0.0.1/32', '10.0.0.1', true],
    ['10.0.0.1/32', '10.0.0.2', false],
    ['0.0.0.0/0', '255.255.255.255', true],
    ['128.0.0.0/1', '200.1.1.1', true],
    ['128.0.0.0/1', '127.255.255.255', false],
    ['0.0.0.0/0', '::1', false],
    ['fd00::/64', 'fd00::ffff:ffff:ffff:ffff', true],
    ['fd00::/64', 'fd00:0:0:1::', false],
    ['fd00::3:0/64', 'fd00::3', true],
    ['::/0', 'fd00::1', true],
    ['::/0', '10.0.0.1', false],
    ['fd00::1/128', 'fd00::1', true],
    ['fd00::1/128', 'fd00::2', false],
    ['8000::/1', 'ffff::', true],
    ['8000::/1', '7fff::', false]
  ]
  for (const [net, address, expected] of cases) assert.equal(cidrContains(cidr(net), ip(address)), expected, `${net} ∋ ${address}`)
})

test('cidrCovers: ipBlock except must lie inside the block', () => {
  const cases: Array<[string, string, boolean]> = [
    ['10.0.0.0/16', '10.0.5.0/24', true],
    ['10.0.0.0/16', '10.0.0.0/16', true],
    ['10.0.0.0/24', '10.0.0.0/16', false],
    ['10.0.0.0/16', '10.1.0.0/24', false],
    ['10.0.0.0/16', '10.0.0.7', true],
    ['fd00::/48', 'fd00:0:0:1::/64', true],
    ['fd00::/64', 'fd00::/48', false],
    ['0.0.0.0/0', '::/0', false]
  ]
  for (const [outer, inner, expected] of cases) assert.equal(cidrCovers(cidr(outer), cidr(inner)), expected, `${outer} ⊇ ${inner}`)
})

test('formatIp: IPv4 dotted quad, IPv6 as RFC 5952 (lower case, longest zero run, no single-group ::)', () => {
  const cases: Array<[string, string]> = [
    ['10.0.0.1', '10.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:0DB8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fd00:0:0:0:0:0:0:3', 'fd00::3']
  ]
  for (const [text, expected] of cases) assert.equal(formatIp(ip(text)), expected, text)
})
