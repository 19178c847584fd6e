// The recent raw-flow ring: sequence numbers, overwrite counting, reading the past, following, and a RawFlow
// built from the shared shape plus each record's own numbers.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { FlowEnd } from '../../agent/src/flows/flow-end.js'
import type { RawFlow } from '../../agent/src/flows/raw-flow.js'
import { RecentRawFlows, type RawFlowShape } from '../../agent/src/flows/recent-raw-flows.js'
import { parseIp } from '../../agent/src/policy/ip-address.js'
import { PENDING_DST_DENIES, type FlowVerdicts, type PolicyHit } from '../../agent/src/policy/policy-hit.js'

function end (address: string, name: string): FlowEnd {
  return { ip: parseIp(address) as NonNullable<ReturnType<typeof parseIp>>, endpoint: undefined, name, namespace: 'shop', type: 'WorkloadEndpoint', labels: [], local: true, index: 0 }
}

const deny: PolicyHit = { kind: 'StagedNetworkPolicy', namespace: 'shop', name: 'lockdown', tier: 'default', action: 'Deny', policyIndex: 0, ruleIndex: 0 }
const verdicts: FlowVerdicts = {
  enforced: { action: 'Allow', src: [], dst: [] },
  pending: { action: 'Deny', src: [], dst: [deny] },
  unobservable: [],
  endDenies: PENDING_DST_DENIES
}
const shape: RawFlowShape = {
  srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', protocol: 6, destPort: 443, src: end('10.0.0.1', 'web-*'), dst: end('10.0.0.2', 'api-*'),
  service: { name: 'api', namespace: 'shop', portName: 'https', port: 443 }, verdicts
}

describe('RecentRawFlows', () => {
  test('a read builds each entry from the shared shape and that record\'s numbers', () => {
    const ring = new RecentRawFlows(4)
    ring.push(shape, 40000, 1, 60, 0, 0, 1000, 1000, '')
    ring.push(shape, 40000, 9, 900, 7, 700, 1000, 2500, 'tcpClosed')
    const [first, second] = ring.since(0).map(e => e.item)
    assert.deepEqual(second, {
      proto: 'tcp', sourceIp: '10.0.0.1', destIp: '10.0.0.2', sourcePort: 40000, destPort: 443,
      packetsForward: 9, bytesForward: 900, packetsReverse: 7, bytesReverse: 700, firstSeenMs: 1000, lastSeenMs: 2500,
      enforcedAction: 'Allow', pendingAction: 'Deny',
      sourcePolicies: { enforced: [], pending: [] }, destPolicies: { enforced: [], pending: [deny] },
      sourceName: 'web-*', sourceNamespace: 'shop', sourceType: 'WorkloadEndpoint', destName: 'api-*', destNamespace: 'shop', destType: 'WorkloadEndpoint',
      destServiceName: 'api', destServiceNamespace: 'shop', destServicePortName: 'https', destServicePort: 443,
      endReason: 'tcpClosed', unobservable: []
    } satisfies RawFlow)
    assert.equal(first?.packetsForward, 1)
    assert.equal(first?.endReason, '')
  })

  test('keeps the newest `capacity` entries, counts the overwritten, and reads after a sequence number', () => {
    const ring = new RecentRawFlows(3)
    for (let i = 1; i <= 5; i++) ring.push(shape, 40000 + i, i, i, 0, 0, i, i, '')
    assert.equal(ring.size, 3)
    assert.equal(ring.overwritten, 2)
    assert.equal(ring.next, 6)
    assert.deepEqual(ring.since(0).map(e => [e.seq, e.item.sourcePort]), [[3, 40003], [4, 40004], [5, 40005]])
    assert.deepEqual(ring.since(4).map(e => e.seq), [5])
  })

  test('followers get each new entry as it is pushed, until they unsubscribe', () => {
    const ring = new RecentRawFlows(2)
    const seen: Array<[number, number]> = []
    const stop = ring.subscribe(e => { seen.push([e.seq, e.item.packetsForward]) })
    ring.push(shape, 1, 10, 0, 0, 0, 0, 0, '')
    ring.push(shape, 1, 20, 0, 0, 0, 0, 0, 'idle')
    stop()
    ring.push(shape, 1, 30, 0, 0, 0, 0, 0, '')
    assert.deepEqual(seen, [[1, 10], [2, 20]])
  })

  test('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new RecentRawFlows(0), RangeError)
  })
})
