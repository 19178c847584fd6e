// The pending pipeline (design, "Pending pipeline"): in Calico's mode staged policies are added to the enforced
// set (never replacing one of the same name), reported with their staged kind, and `stagedAction: Delete` is
// ignored; StagedKubernetesNetworkPolicy is converted like a Kubernetes policy. In `replace` mode, Set replaces
// the enforced policy of the same kind/namespace/name/tier, Delete removes it, and a staged policy without an
// enforced counterpart is added.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { StagedMode } from '../../agent/src/policy/policy-engine.js'
import type { Resource } from '../../agent/src/policy/resources.js'
import {
  TestCluster, gnp, knp, namespace, np, pod, profile, sgnp, sknp, snp, tier, verdictText, type ProbeOptions
} from './helpers/cluster-builder.js'

const INVENTORY: Resource[] = [
  namespace('a'),
  namespace('b'),
  pod('a', 'client', '10.0.0.1', { labels: { app: 'client' } }),
  pod('a', 'server', '10.0.0.2', { labels: { app: 'server' } }),
  pod('b', 'server', '10.0.1.2', { labels: { app: 'server' } })
]

const SERVER = "app == 'server'"
const port = (n: number): Array<{ action: 'Allow', protocol: string, destination: { ports: number[] } }> =>
  [{ action: 'Allow', protocol: 'TCP', destination: { ports: [n] } }]

interface Case {
  name: string
  mode: StagedMode
  policies: Resource[]
  to?: string
  probe?: ProbeOptions
  enforced: { action: 'Allow' | 'Deny', dst: string[] }
  pending: { action: 'Allow' | 'Deny', dst: string[] }
}

function run (cases: readonly Case[]): void {
  for (const c of cases) {
    test(`${c.mode}: ${c.name}`, () => {
      const cluster = new TestCluster([...INVENTORY, ...c.policies], { stagedMode: c.mode })
      const v = cluster.probe('a/client', c.to ?? 'a/server', c.probe ?? { protocol: 'TCP', port: 80 })
      assert.deepEqual(verdictText(v.enforced), { action: c.enforced.action, src: [profile('a')], dst: c.enforced.dst })
      assert.deepEqual(verdictText(v.pending), { action: c.pending.action, src: [profile('a')], dst: c.pending.dst })
    })
  }
}

const webAllows80 = gnp('web', { order: 100, selector: SERVER, ingress: port(80) })
const stagedWebAllows443 = sgnp('web', { order: 100, selector: SERVER, ingress: port(443) })
const enforcedDeny = gnp('deny-80', { order: 100, selector: SERVER, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [80] } }] })
const stagedDeleteOfDeny = sgnp('deny-80', { stagedAction: 'Delete', order: 1, selector: 'all()', ingress: [{ action: 'Allow' }] })
const ALLOWED_BY_PROFILE = { action: 'Allow' as const, dst: [profile('a')] }

run([
  {
    name: 'a staged policy is evaluated in the pending pipeline only, reported with its staged kind',
    mode: 'calico',
    policies: [gnp('allow-all', { order: 100, selector: SERVER, ingress: [{ action: 'Allow' }] }), sgnp('deny-80', { order: 50, selector: SERVER, ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [80] } }] })],
    enforced: { action: 'Allow', dst: ['GlobalNetworkPolicy allow-all [default] Allow rule 0'] },
    pending: { action: 'Deny', dst: ['StagedGlobalNetworkPolicy deny-80 [default] Deny rule 0'] }
  },
  {
    name: 'a StagedGlobalNetworkPolicy does not replace the enforced GlobalNetworkPolicy of the same name',
    mode: 'calico',
    policies: [webAllows80, stagedWebAllows443],
    enforced: { action: 'Allow', dst: ['GlobalNetworkPolicy web [default] Allow rule 0'] },
    pending: { action: 'Allow', dst: ['GlobalNetworkPolicy web [default] Allow rule 0'] }
  },
  {
    name: 'the same-named staged policy adds what it allows',
    mode: 'calico',
    policies: [webAllows80, stagedWebAllows443],
    probe: { protocol: 'TCP', port: 443 },
    enforced: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger GlobalNetworkPolicy web [default]'] },
    pending: { action: 'Allow', dst: ['StagedGlobalNetworkPolicy web [default] Allow rule 0'] }
  },
  {
    name: 'stagedAction Delete is ignored: the enforced policy stays and the staged one is not evaluated',
    mode: 'calico',
    policies: [enforcedDeny, stagedDeleteOfDeny],
    enforced: { action: 'Deny', dst: ['GlobalNetworkPolicy deny-80 [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['GlobalNetworkPolicy deny-80 [default] Deny rule 0'] }
  },
  {
    name: 'a StagedNetworkPolicy is reported as StagedNetworkPolicy with its namespace',
    mode: 'calico',
    policies: [snp('a', 'deny-all', { selector: 'all()', ingress: [{ action: 'Deny' }] })],
    enforced: ALLOWED_BY_PROFILE,
    pending: { action: 'Deny', dst: ['StagedNetworkPolicy a/deny-all [default] Deny rule 0'] }
  },
  {
    name: 'a StagedNetworkPolicy stays in its namespace',
    mode: 'calico',
    policies: [snp('b', 'deny-all', { selector: 'all()', ingress: [{ action: 'Deny' }] })],
    enforced: ALLOWED_BY_PROFILE,
    pending: ALLOWED_BY_PROFILE
  },
  {
    name: 'a StagedKubernetesNetworkPolicy is converted (default deny, end of tier default)',
    mode: 'calico',
    policies: [sknp('a', 'default-deny', { podSelector: {} })],
    enforced: ALLOWED_BY_PROFILE,
    pending: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger StagedKubernetesNetworkPolicy a/default-deny [default]'] }
  },
  {
    name: 'a StagedKubernetesNetworkPolicy is converted (peers and ports)',
    mode: 'calico',
    policies: [sknp('a', 'allow-client', { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 80 }] }] })],
    enforced: ALLOWED_BY_PROFILE,
    pending: { action: 'Allow', dst: ['StagedKubernetesNetworkPolicy a/allow-client [default] Allow rule 0'] }
  },
  {
    name: 'a StagedKubernetesNetworkPolicy sits at order 1000 in tier default (after a Calico policy of order 500)',
    mode: 'calico',
    policies: [np('a', 'calico-deny', { order: 500, selector: SERVER, ingress: [{ action: 'Deny' }] }), sknp('a', 'allow-all', { podSelector: {}, ingress: [{}] })],
    enforced: { action: 'Deny', dst: ['CalicoNetworkPolicy a/calico-deny [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['CalicoNetworkPolicy a/calico-deny [default] Deny rule 0'] }
  },
  {
    name: 'a StagedKubernetesNetworkPolicy sits at order 1000 in tier default (before a Calico policy of order 2000)',
    mode: 'calico',
    policies: [np('a', 'calico-deny', { order: 2000, selector: SERVER, ingress: [{ action: 'Deny' }] }), sknp('a', 'allow-all', { podSelector: {}, ingress: [{}] })],
    enforced: { action: 'Deny', dst: ['CalicoNetworkPolicy a/calico-deny [default] Deny rule 0'] },
    pending: { action: 'Allow', dst: ['StagedKubernetesNetworkPolicy a/allow-all [default] Allow rule 0'] }
  }
])

run([
  {
    name: 'Set replaces the enforced policy of the same kind and name',
    mode: 'replace',
    policies: [webAllows80, stagedWebAllows443],
    enforced: { action: 'Allow', dst: ['GlobalNetworkPolicy web [default] Allow rule 0'] },
    pending: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger StagedGlobalNetworkPolicy web [default]'] }
  },
  {
    name: 'Set: the replacement decides with its own rules',
    mode: 'replace',
    policies: [webAllows80, stagedWebAllows443],
    probe: { protocol: 'TCP', port: 443 },
    enforced: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger GlobalNetworkPolicy web [default]'] },
    pending: { action: 'Allow', dst: ['StagedGlobalNetworkPolicy web [default] Allow rule 0'] }
  },
  {
    name: 'Delete removes the enforced policy of the same identity',
    mode: 'replace',
    policies: [enforcedDeny, stagedDeleteOfDeny],
    enforced: { action: 'Deny', dst: ['GlobalNetworkPolicy deny-80 [default] Deny rule 0'] },
    pending: ALLOWED_BY_PROFILE
  },
  {
    name: 'a staged policy without enforced counterpart is simply added',
    mode: 'replace',
    policies: [webAllows80, sgnp('new-deny', { order: 10, selector: SERVER, ingress: [{ action: 'Deny' }] })],
    enforced: { action: 'Allow', dst: ['GlobalNetworkPolicy web [default] Allow rule 0'] },
    pending: { action: 'Deny', dst: ['StagedGlobalNetworkPolicy new-deny [default] Deny rule 0'] }
  },
  {
    name: 'a StagedNetworkPolicy replaces the Calico NetworkPolicy of its namespace and name',
    mode: 'replace',
    policies: [np('a', 'web', { selector: SERVER, ingress: [{ action: 'Deny' }] }), snp('a', 'web', { selector: SERVER, ingress: [{ action: 'Allow' }] })],
    enforced: { action: 'Deny', dst: ['CalicoNetworkPolicy a/web [default] Deny rule 0'] },
    pending: { action: 'Allow', dst: ['StagedNetworkPolicy a/web [default] Allow rule 0'] }
  },
  {
    name: 'a StagedNetworkPolicy does not replace the same name in another namespace',
    mode: 'replace',
    policies: [np('a', 'web', { selector: SERVER, ingress: [{ action: 'Deny' }] }), snp('b', 'web', { selector: SERVER, ingress: [{ action: 'Allow' }] })],
    enforced: { action: 'Deny', dst: ['CalicoNetworkPolicy a/web [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['CalicoNetworkPolicy a/web [default] Deny rule 0'] }
  },
  {
    name: 'a StagedNetworkPolicy does not replace a GlobalNetworkPolicy of the same name (other kind)',
    mode: 'replace',
    policies: [gnp('web', { order: 10, selector: SERVER, ingress: [{ action: 'Deny' }] }), snp('a', 'web', { order: 20, selector: SERVER, ingress: [{ action: 'Allow' }] })],
    enforced: { action: 'Deny', dst: ['GlobalNetworkPolicy web [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['GlobalNetworkPolicy web [default] Deny rule 0'] }
  },
  {
    name: 'a staged policy does not replace the same name in another tier',
    mode: 'replace',
    policies: [tier('sec', 10), gnp('web', { order: 10, selector: SERVER, ingress: [{ action: 'Deny' }] }), sgnp('web', { tier: 'sec', selector: SERVER, ingress: [{ action: 'Pass' }] })],
    enforced: { action: 'Deny', dst: ['GlobalNetworkPolicy web [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['StagedGlobalNetworkPolicy web [sec] Pass rule 0', 'GlobalNetworkPolicy web [default] Deny rule 0'] }
  },
  {
    name: 'a StagedKubernetesNetworkPolicy replaces the Kubernetes NetworkPolicy of the same name',
    mode: 'replace',
    policies: [knp('a', 'web', { podSelector: {} }), sknp('a', 'web', { podSelector: {}, ingress: [{}] })],
    enforced: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger NetworkPolicy a/web [default]'] },
    pending: { action: 'Allow', dst: ['StagedKubernetesNetworkPolicy a/web [default] Allow rule 0'] }
  },
  {
    name: 'a StagedKubernetesNetworkPolicy with Delete removes the Kubernetes NetworkPolicy',
    mode: 'replace',
    policies: [knp('a', 'web', { podSelector: {} }), sknp('a', 'web', { podSelector: {}, stagedAction: 'Delete' })],
    enforced: { action: 'Deny', dst: ['EndOfTier [default] Deny trigger NetworkPolicy a/web [default]'] },
    pending: ALLOWED_BY_PROFILE
  },
  {
    name: 'a StagedKubernetesNetworkPolicy does not replace a Calico NetworkPolicy of the same name',
    mode: 'replace',
    policies: [np('a', 'web', { order: 10, selector: SERVER, ingress: [{ action: 'Deny' }] }), sknp('a', 'web', { podSelector: {}, ingress: [{}] })],
    enforced: { action: 'Deny', dst: ['CalicoNetworkPolicy a/web [default] Deny rule 0'] },
    pending: { action: 'Deny', dst: ['CalicoNetworkPolicy a/web [default] Deny rule 0'] }
  }
])

test('calico is the default staged mode', () => {
  const cluster = new TestCluster([...INVENTORY, enforcedDeny, stagedDeleteOfDeny])
  assert.equal(cluster.engine.stagedMode, 'calico')
  assert.equal(cluster.probe('a/client', 'a/server', { protocol: 'TCP', port: 80 }).pending.action, 'Deny')
})

test('view: the enforced pipeline holds no staged policy; the pending one holds Set policies (and, in replace mode, not what they replace)', () => {
  const policies = [webAllows80, stagedWebAllows443, enforcedDeny, stagedDeleteOfDeny, sknp('a', 'k', { podSelector: {} })]
  const names = (c: TestCluster, p: 'enforced' | 'pending'): string[] =>
    c.engine.view(p).tiers.flatMap(t => t.policies.map(x => `${t.tier.name}:${x.ref.kind}/${x.calicoName}`))
  const calico = new TestCluster([...INVENTORY, ...policies])
  assert.deepEqual(names(calico, 'enforced'), ['default:GlobalNetworkPolicy/deny-80', 'default:GlobalNetworkPolicy/web'])
  assert.deepEqual(new Set(names(calico, 'pending')), new Set([
    'default:GlobalNetworkPolicy/deny-80', 'default:GlobalNetworkPolicy/web', 'default:StagedGlobalNetworkPolicy/web',
    'default:StagedKubernetesNetworkPolicy/knp.default.k'
  ]))
  const replace = new TestCluster([...INVENTORY, ...policies], { stagedMode: 'replace' })
  assert.deepEqual(new Set(names(replace, 'pending')), new Set(['default:StagedGlobalNetworkPolicy/web', 'default:StagedKubernetesNetworkPolicy/knp.default.k']))
})
