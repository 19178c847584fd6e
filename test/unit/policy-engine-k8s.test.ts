// Kubernetes NetworkPolicy as Calico converts it (libcalico-go k8s conversion): `knp.default.<name>` in tier
// default at order 1000, podSelector, peers (podSelector = own namespace, namespaceSelector, both, empty =
// every namespace), ipBlock/except, ports (default TCP, endPort, named ports on the destination pod), empty
// peers = everything, egress, and the rule numbering traces report (one rule per protocol × peer).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePolicy } from '../../agent/src/policy/normalized-policy.js'
import type { Resource } from '../../agent/src/policy/resources.js'
import { TestCluster, knp, namespace, np, pod, profile, verdictText, type ProbeOptions } from './helpers/cluster-builder.js'

const INVENTORY: Resource[] = [
  namespace('x', { ns: 'x' }),
  namespace('y', { ns: 'y' }),
  pod('x', 'a', '10.1.0.1', { labels: { pod: 'a' }, ports: [{ name: 'web', containerPort: 8080 }] }),
  pod('x', 'b', '10.1.0.2', { labels: { pod: 'b' }, ports: [{ name: 'web', containerPort: 8081 }] }),
  pod('y', 'a', '10.2.0.1', { labels: { pod: 'a' }, ports: [{ name: 'web', containerPort: 9090 }] }),
  pod('y', 'b', '10.2.0.2', { labels: { pod: 'b' } })
]

const KNP = 'NetworkPolicy'
const podA = { matchLabels: { pod: 'a' } }
const podB = { matchLabels: { pod: 'b' } }

interface Case {
  name: string
  policies: Resource[]
  from: string
  to: string
  probe?: ProbeOptions
  action: 'Allow' | 'Deny'
  /** Expected source (egress) trace; default: the source namespace's profile, or nothing for an address. */
  src?: string[]
  /** Expected destination (ingress) trace; default: the destination namespace's profile. */
  dst?: string[]
}

function defaultTrace (end: string): string[] {
  const slash = end.indexOf('/')
  return slash < 0 ? [] : [profile(end.slice(0, slash))]
}

function run (cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const cluster = new TestCluster([...INVENTORY, ...c.policies])
      const v = cluster.probe(c.from, c.to, c.probe ?? { protocol: 'TCP', port: 80 })
      assert.deepEqual(verdictText(v.enforced), { action: c.action, src: c.src ?? defaultTrace(c.from), dst: c.dst ?? defaultTrace(c.to) })
    })
  }
}

/** A policy on x/a whose only ingress rule is `rule`. */
const ingressToA = (name: string, rule: NonNullable<Parameters<typeof knp>[2]['ingress']>[number]): Resource =>
  knp('x', name, { podSelector: podA, policyTypes: ['Ingress'], ingress: [rule] })
const allowed = (name: string, ruleIndex = 0): string[] => [`${KNP} x/${name} [default] Allow rule ${ruleIndex}`]
const denied = (name: string): string[] => [`EndOfTier [default] Deny trigger ${KNP} x/${name} [default]`]

test('conversion: knp.default.<name>, tier default, order 1000, kind NetworkPolicy', () => {
  const p = normalizePolicy(knp('x', 'allow-b', { podSelector: podA, ingress: [{ from: [{ podSelector: podB }] }] }))
  assert.ok(p !== undefined)
  assert.equal(p.calicoName, 'knp.default.allow-b')
  assert.deepEqual(p.ref, { kind: KNP, namespace: 'x', name: 'allow-b', tier: 'default' })
  assert.equal(p.order, 1000)
  assert.equal(p.staged, false)
  assert.deepEqual(p.types, ['Ingress'])
})

const allowFromB = knp('x', 'allow-b', { podSelector: podA, ingress: [{ from: [{ podSelector: podB }] }] })
run([
  {
    name: 'order: a Calico policy of order 500 in tier default runs before the Kubernetes policy (1000)',
    policies: [allowFromB, np('x', 'calico-deny', { order: 500, selector: "pod == 'a'", ingress: [{ action: 'Deny' }] })],
    from: 'x/b',
    to: 'x/a',
    action: 'Deny',
    dst: ['CalicoNetworkPolicy x/calico-deny [default] Deny rule 0']
  },
  {
    name: 'order: a Calico policy of order 2000 in tier default runs after the Kubernetes policy',
    policies: [allowFromB, np('x', 'calico-deny', { order: 2000, selector: "pod == 'a'", ingress: [{ action: 'Deny' }] })],
    from: 'x/b',
    to: 'x/a',
    action: 'Allow',
    dst: allowed('allow-b')
  },
  {
    name: 'order: a Calico policy without order runs after the Kubernetes policy',
    policies: [allowFromB, np('x', 'a-calico-deny', { selector: "pod == 'a'", ingress: [{ action: 'Deny' }] })],
    from: 'x/b',
    to: 'x/a',
    action: 'Allow',
    dst: allowed('allow-b')
  },
  {
    name: 'order: when the Kubernetes policy does not decide, the later Calico policy still runs before end of tier',
    policies: [allowFromB, np('x', 'calico-allow', { order: 2000, selector: "pod == 'a'", ingress: [{ action: 'Allow', protocol: 'TCP' }] })],
    from: 'y/b',
    to: 'x/a',
    action: 'Allow',
    dst: ['CalicoNetworkPolicy x/calico-allow [default] Allow rule 0']
  },
  // podSelector
  {
    name: 'podSelector: selects the pods with the labels',
    policies: [knp('x', 'deny-a', { podSelector: podA })],
    from: 'x/b',
    to: 'x/a',
    action: 'Deny',
    dst: denied('deny-a')
  },
  {
    name: 'podSelector: leaves the other pods alone',
    policies: [knp('x', 'deny-a', { podSelector: podA })],
    from: 'x/a',
    to: 'x/b',
    action: 'Allow'
  },
  {
    name: 'podSelector: matchExpressions NotIn',
    policies: [knp('x', 'deny-not-a', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] } })],
    from: 'x/a',
    to: 'x/b',
    action: 'Deny',
    dst: denied('deny-not-a')
  },
  {
    name: 'podSelector: an empty podSelector selects only pods of the policy namespace',
    policies: [knp('x', 'deny-all', { podSelector: {} })],
    from: 'x/a',
    to: 'y/a',
    action: 'Allow'
  }
])

run([
  // Peers.
  { name: 'peer podSelector only: a pod of the same namespace', policies: [ingressToA('p', { from: [{ podSelector: podB }] })], from: 'x/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer podSelector only: the same labels in another namespace', policies: [ingressToA('p', { from: [{ podSelector: podB }] })], from: 'y/b', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer empty podSelector: every pod of the same namespace', policies: [ingressToA('p', { from: [{ podSelector: {} }] })], from: 'x/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer empty podSelector: no pod of another namespace', policies: [ingressToA('p', { from: [{ podSelector: {} }] })], from: 'y/a', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer namespaceSelector: a pod of a matching namespace', policies: [ingressToA('p', { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] })], from: 'y/a', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer namespaceSelector: a pod of another namespace', policies: [ingressToA('p', { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] })], from: 'x/b', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer namespaceSelector and podSelector: both must hold (match)', policies: [ingressToA('p', { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: podB }] })], from: 'y/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer namespaceSelector and podSelector: wrong pod', policies: [ingressToA('p', { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: podB }] })], from: 'y/a', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer namespaceSelector and podSelector: wrong namespace', policies: [ingressToA('p', { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: podB }] })], from: 'x/b', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer empty namespaceSelector: pods of every namespace', policies: [ingressToA('p', { from: [{ namespaceSelector: {} }] })], from: 'y/a', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer empty namespaceSelector: not an outside address', policies: [ingressToA('p', { from: [{ namespaceSelector: {} }] })], from: '10.9.9.9', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'peer empty namespaceSelector with podSelector: that pod in any namespace', policies: [ingressToA('p', { from: [{ namespaceSelector: {}, podSelector: podB }] })], from: 'y/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'peer empty namespaceSelector with podSelector: other pods', policies: [ingressToA('p', { from: [{ namespaceSelector: {}, podSelector: podB }] })], from: 'y/a', to: 'x/a', action: 'Deny', dst: denied('p') },
  // ipBlock with except.
  { name: 'ipBlock: a pod address inside the CIDR', policies: [ingressToA('p', { from: [{ ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.2/32'] } }] })], from: 'y/a', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'ipBlock: an address in `except`', policies: [ingressToA('p', { from: [{ ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.2/32'] } }] })], from: 'y/b', to: 'x/a', action: 'Deny', dst: denied('p') },
  { name: 'ipBlock: an outside address inside the CIDR', policies: [ingressToA('p', { from: [{ ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.2/32'] } }] })], from: '10.2.5.5', to: 'x/a', action: 'Allow', src: [], dst: allowed('p') },
  { name: 'ipBlock: an address outside the CIDR', policies: [ingressToA('p', { from: [{ ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.2/32'] } }] })], from: 'x/b', to: 'x/a', action: 'Deny', dst: denied('p') },
  // Empty peers.
  { name: 'no `from`: every source, even outside the cluster', policies: [ingressToA('p', {})], from: '10.9.9.9', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'empty `from` with ports: every source on that port', policies: [ingressToA('p', { from: [], ports: [{ port: 80 }] })], from: 'y/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'empty `from` with ports: other ports denied', policies: [ingressToA('p', { from: [], ports: [{ port: 80 }] })], from: 'y/b', to: 'x/a', probe: { port: 81 }, action: 'Deny', dst: denied('p') },
  { name: 'ingress: [] denies everything', policies: [knp('x', 'p', { podSelector: podA, policyTypes: ['Ingress'], ingress: [] })], from: 'x/b', to: 'x/a', action: 'Deny', dst: denied('p') }
])

run([
  // Ports: protocol default TCP, endPort, protocol-only entries, named ports on the destination pod.
  { name: 'port 80 without protocol is TCP/80', policies: [ingressToA('p', { ports: [{ port: 80 }] })], from: 'x/b', to: 'x/a', action: 'Allow', dst: allowed('p') },
  { name: 'port 80 without protocol does not allow UDP/80', policies: [ingressToA('p', { ports: [{ port: 80 }] })], from: 'x/b', to: 'x/a', probe: { protocol: 'UDP', port: 80 }, action: 'Deny', dst: denied('p') },
  { name: 'UDP/53 allows UDP/53', policies: [ingressToA('p', { ports: [{ protocol: 'UDP', port: 53 }] })], from: 'x/b', to: 'x/a', probe: { protocol: 'UDP', port: 53 }, action: 'Allow', dst: allowed('p') },
  { name: 'UDP/53 does not allow TCP/53', policies: [ingressToA('p', { ports: [{ protocol: 'UDP', port: 53 }] })], from: 'x/b', to: 'x/a', probe: { protocol: 'TCP', port: 53 }, action: 'Deny', dst: denied('p') },
  { name: 'endPort: the first port of the range', policies: [ingressToA('p', { ports: [{ port: 8000, endPort: 8100 }] })], from: 'x/b', to: 'x/a', probe: { port: 8000 }, action: 'Allow', dst: allowed('p') },
  { name: 'endPort: the last port of the range', policies: [ingressToA('p', { ports: [{ port: 8000, endPort: 8100 }] })], from: 'x/b', to: 'x/a', probe: { port: 8100 }, action: 'Allow', dst: allowed('p') },
  { name: 'endPort: past the range', policies: [ingressToA('p', { ports: [{ port: 8000, endPort: 8100 }] })], from: 'x/b', to: 'x/a', probe: { port: 8101 }, action: 'Deny', dst: denied('p') },
  { name: 'protocol without port: every port of that protocol', policies: [ingressToA('p', { ports: [{ protocol: 'UDP' }] })], from: 'x/b', to: 'x/a', probe: { protocol: 'UDP', port: 5000 }, action: 'Allow', dst: allowed('p') },
  { name: 'protocol without port: not other protocols', policies: [ingressToA('p', { ports: [{ protocol: 'UDP' }] })], from: 'x/b', to: 'x/a', probe: { protocol: 'TCP', port: 5000 }, action: 'Deny', dst: denied('p') },
  { name: 'named port: resolved on x/a (web = 8080)', policies: [knp('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })], from: 'y/b', to: 'x/a', probe: { port: 8080 }, action: 'Allow', dst: allowed('p') },
  { name: 'named port: x/a does not name 8081 web', policies: [knp('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })], from: 'y/b', to: 'x/a', probe: { port: 8081 }, action: 'Deny', dst: denied('p') },
  { name: 'named port: resolved per destination pod (x/b web = 8081)', policies: [knp('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })], from: 'y/b', to: 'x/b', probe: { port: 8081 }, action: 'Allow', dst: allowed('p') }
])

const egressFromA = (name: string, rule: NonNullable<Parameters<typeof knp>[2]['egress']>[number]): Resource =>
  knp('x', name, { podSelector: podA, policyTypes: ['Egress'], egress: [rule] })
const allowedOut = (name: string, ruleIndex = 0): string[] => [`${KNP} x/${name} [default] Allow rule ${ruleIndex}`]
run([
  // Egress: evaluated on the source pod, peers are destinations.
  { name: 'egress: ipBlock and port allow', policies: [egressFromA('e', { to: [{ ipBlock: { cidr: '10.9.0.0/16' } }], ports: [{ port: 443 }] })], from: 'x/a', to: '10.9.1.1', probe: { port: 443 }, action: 'Allow', src: allowedOut('e'), dst: [] },
  { name: 'egress: ipBlock, other port', policies: [egressFromA('e', { to: [{ ipBlock: { cidr: '10.9.0.0/16' } }], ports: [{ port: 443 }] })], from: 'x/a', to: '10.9.1.1', probe: { port: 80 }, action: 'Deny', src: denied('e'), dst: [] },
  { name: 'egress: ipBlock, address outside', policies: [egressFromA('e', { to: [{ ipBlock: { cidr: '10.9.0.0/16' } }], ports: [{ port: 443 }] })], from: 'x/a', to: 'x/b', probe: { port: 443 }, action: 'Deny', src: denied('e') },
  { name: 'egress: an Egress-only policy leaves ingress to the pod alone', policies: [egressFromA('e', { to: [{ ipBlock: { cidr: '10.9.0.0/16' } }] })], from: 'x/b', to: 'x/a', action: 'Allow' },
  { name: 'egress: peer podSelector only is the policy namespace (same namespace)', policies: [egressFromA('e', { to: [{ podSelector: podB }] })], from: 'x/a', to: 'x/b', action: 'Allow', src: allowedOut('e') },
  { name: 'egress: peer podSelector only is the policy namespace (other namespace)', policies: [egressFromA('e', { to: [{ podSelector: podB }] })], from: 'x/a', to: 'y/b', action: 'Deny', src: denied('e') },
  { name: 'egress: named port resolved on the destination pod in another namespace (y/a web = 9090)', policies: [egressFromA('e', { to: [{ namespaceSelector: {} }], ports: [{ port: 'web' }] })], from: 'x/a', to: 'y/a', probe: { port: 9090 }, action: 'Allow', src: allowedOut('e') },
  { name: 'egress: named port not named on that destination', policies: [egressFromA('e', { to: [{ namespaceSelector: {} }], ports: [{ port: 'web' }] })], from: 'x/a', to: 'y/a', probe: { port: 8080 }, action: 'Deny', src: denied('e') },
  { name: 'egress: named port with no peers resolves on a pod of any namespace', policies: [egressFromA('e', { ports: [{ port: 'web' }] })], from: 'x/a', to: 'y/a', probe: { port: 9090 }, action: 'Allow', src: allowedOut('e') },
  { name: 'egress: policyTypes omitted with egress rules also denies unmatched ingress', policies: [knp('x', 'e', { podSelector: podA, egress: [{}] })], from: 'x/b', to: 'x/a', action: 'Deny', dst: denied('e') }
])

// Rule numbering: Calico emits one v3 rule per protocol (sorted) and, inside it, one per peer; numbering
// continues across the Kubernetes rules of a direction. Traces report these indexes.
const twoPeersTwoProtocols = knp('x', 'multi', {
  podSelector: podA,
  ingress: [
    { from: [{ podSelector: podB }, { namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }, { protocol: 'UDP', port: 53 }] },
    { from: [{ ipBlock: { cidr: '10.9.0.0/16' } }] }
  ]
})
run([
  { name: 'rule index: TCP from the first peer is rule 0', policies: [twoPeersTwoProtocols], from: 'x/b', to: 'x/a', action: 'Allow', dst: allowed('multi', 0) },
  { name: 'rule index: TCP from the second peer is rule 1', policies: [twoPeersTwoProtocols], from: 'y/a', to: 'x/a', action: 'Allow', dst: allowed('multi', 1) },
  { name: 'rule index: UDP from the first peer is rule 2', policies: [twoPeersTwoProtocols], from: 'x/b', to: 'x/a', probe: { protocol: 'UDP', port: 53 }, action: 'Allow', dst: allowed('multi', 2) },
  { name: 'rule index: UDP from the second peer is rule 3', policies: [twoPeersTwoProtocols], from: 'y/a', to: 'x/a', probe: { protocol: 'UDP', port: 53 }, action: 'Allow', dst: allowed('multi', 3) },
  { name: 'rule index: the second Kubernetes rule continues the numbering', policies: [twoPeersTwoProtocols], from: '10.9.1.1', to: 'x/a', probe: { protocol: 'UDP', port: 9 }, action: 'Allow', dst: allowed('multi', 4) }
])
