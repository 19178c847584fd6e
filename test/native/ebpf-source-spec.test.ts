// The ebpf: source string and its options (validation only: no kernel, no privileges needed).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { parseTapSourceSpec, validateTapSourceOptions } from '../../agent/src/tap/tap-source-spec.js'

describe('ebpf: source strings and options', () => {
  test('parses names and globs', () => {
    assert.deepEqual(parseTapSourceSpec('ebpf:cali*'), { kind: 'ebpf', interfaces: ['cali*'] })
    assert.deepEqual(parseTapSourceSpec('ebpf:eth0, veth*'), { kind: 'ebpf', interfaces: ['eth0', 'veth*'] })
  })

  test('rejects an empty list, bad names and the pcap-only any device, saying what was expected', () => {
    for (const [spec, why] of [['ebpf:', /names no interface; expected ebpf:<iface>/], ['ebpf:eth0;rm', /not an interface/],
      ['ebpf:any', /rather than 'any'/]] as const) {
      assert.throws(() => parseTapSourceSpec(spec), { code: 'ERR_TAP_SOURCE', message: why }, spec)
    }
  })

  test('takes the eBPF options and the flow-table options, and reports every bad one at once', () => {
    validateTapSourceOptions({ hostInterfaces: ['eth0', 'ens*'], fallback: 'pcap', sweepMs: 500, ringBytes: 1 << 16, idleTimeoutMs: 1000, rescanMs: 100 }, 'ebpf')
    assert.throws(() => validateTapSourceOptions({ fallback: 'xdp', ringBytes: 5000, hostInterfaces: ['eth0;x'], filter: 'icmp' } as never, 'ebpf'), {
      code: 'ERR_TAP_SOURCE',
      message: /'filter' does not apply to ebpf sources.*ringBytes must be a power of two.*fallback must be 'pcap' or 'none'.*hostInterfaces: 'eth0;x'/
    })
    assert.throws(() => validateTapSourceOptions({ fallback: 'pcap' }, 'pcap'), /'fallback' does not apply to pcap sources/)
  })

  test('attach is auto, tcx or clsact, and only for ebpf sources', () => {
    for (const attach of ['auto', 'tcx', 'clsact'] as const) validateTapSourceOptions({ attach }, 'ebpf')
    assert.throws(() => validateTapSourceOptions({ attach: 'xdp', ringBytes: 5000 } as never, 'ebpf'), {
      code: 'ERR_TAP_SOURCE',
      message: /ringBytes must be a power of two.*attach must be 'auto', 'tcx', 'clsact', got "xdp"/
    })
    assert.throws(() => validateTapSourceOptions({ attach: 'tcx' }, 'pcap'), /'attach' does not apply to pcap sources/)
  })
})
