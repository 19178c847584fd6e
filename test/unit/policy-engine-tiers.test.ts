// Evaluation order (design, "Policy semantics" 1-4): tiers, which policies apply, policy order in a tier, rule
// actions (Allow/Deny decide, Pass leaves the tier, Log goes on), end-of-tier defaults, profiles, host endpoints,
// and which end evaluates which direction. Every row would fail if the rule it is named after were missing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { GlobalNetworkPolicySpec, Resource } from '../../agent/src/policy/resources.js'
import {
  TestCluster, gnp, hostEndpoint, knp, namespace, np, pod, profile, serviceAccount, tier, verdictText, type ProbeOptions
} from './helpers/cluster-builder.js'

const INVENTORY: Resource[] = [
  namespace('a', { team: 'x' }),
  namespace('b', { team: 'y' }),
  serviceAccount('a', 'frontend', { role: 'web' }),
  pod('a', 'client', '10.0.0.1', { labels: { app: 'client' } }),
  pod('a', 'server', '10.0.0.2', { labels: { app: 'server' }, serviceAccount: 'frontend' }),
  pod('b', 'server', '10.0.1.2', { labels: { app: 'server' } }),
  hostEndpoint('node1', ['10.1.0.1'], { labels: { role: 'node' } }),
  hostEndpoint('node2', ['10.1.0.2'], { labels: { role: 'node' }, profiles: ['projectcalico-default-allow'] })
]

const GNP = 'GlobalNetworkPolicy'
const SERVER = "app == 'server'"

/** A GNP selecting the servers whose single ingress rule allows (or denies) everything. */
const allowIn = (name: string, spec: GlobalNetworkPolicySpec = {}): Resource =>
  gnp(name, { selector: SERVER, types: ['Ingress'], ingress: [{ action: 'Allow' }], ...spec })
const denyIn = (name: string, spec: GlobalNetworkPolicySpec = {}): Resource =>
  gnp(name, { selector: SERVER, types: ['Ingress'], ingress: [{ action: 'Deny' }], ...spec })
const onlyPort443 = [{ action: 'Allow' as const, protocol: 'TCP', destination: { ports: [443] } }]

interface Case {
  name: string
  policies: Resource[]
  from?: string
  to?: string
  probe?: ProbeOptions
  action: 'Allow' | 'Deny'
  src?: string[]
  dst: string[]
}

function run (cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const cluster = new TestCluster([...INVENTORY, ...c.policies])
      const v = cluster.probe(c.from ?? 'a/client', c.to ?? 'a/server', c.probe ?? { port: 80 })
      const expected = { action: c.action, src: c.src ?? [profile('a')], dst: c.dst }
      assert.deepEqual(verdictText(v.enforced), expected)
      // Nothing is staged: the pending pipeline is the enforced one.
      assert.deepEqual(verdictText(v.pending), expected)
    })
  }
}

// 1. Tiers in ascending order (ties by name; tier without order last); `default` always exists.
run([
  {
    name: 'tiers: ascending order decides, not the name',
    policies: [tier('alpha', 200), tier('beta', 100), denyIn('alpha.deny', { tier: 'alpha' }), allowIn('beta.allow', { tier: 'beta' })],
    action: 'Allow',
    dst: [`${GNP} beta.allow [beta] Allow rule 0`]
  },
  {
    name: 'tiers: equal orders are broken by name',
    policies: [tier('zeta', 100), tier('eta', 100), allowIn('zeta.allow', { tier: 'zeta' }), denyIn('eta.deny', { tier: 'eta' })],
    action: 'Deny',
    dst: [`${GNP} eta.deny [eta] Deny rule 0`]
  },
  {
    name: 'tiers: a tier without order runs after every ordered tier (even one after kube-baseline)',
    policies: [tier('aaa'), tier('zzz', 50_000_000), denyIn('aaa.deny', { tier: 'aaa' }), allowIn('zzz.allow', { tier: 'zzz' })],
    action: 'Allow',
    dst: [`${GNP} zzz.allow [zzz] Allow rule 0`]
  },
  {
    name: 'tiers: a tier that is referenced but not defined runs after the defined ones',
    policies: [tier('zeta'), denyIn('ghost.deny', { tier: 'ghost' }), allowIn('zeta.allow', { tier: 'zeta' })],
    action: 'Allow',
    dst: [`${GNP} zeta.allow [zeta] Allow rule 0`]
  },
  {
    name: 'tiers: the default tier exists without a Tier resource and comes before order 1,000,001',
    policies: [tier('late', 1_000_001), allowIn('late.allow', { tier: 'late' }), denyIn('deny')],
    action: 'Deny',
    dst: [`${GNP} deny [default] Deny rule 0`]
  },
  {
    name: 'tiers: the default tier comes after order 999,999',
    policies: [tier('early', 999_999), allowIn('early.allow', { tier: 'early' }), denyIn('deny')],
    action: 'Allow',
    dst: [`${GNP} early.allow [early] Allow rule 0`]
  },
  {
    name: 'tiers: the default tier ends with Deny without a Tier resource',
    policies: [allowIn('only-443', { ingress: onlyPort443 })],
    action: 'Deny',
    dst: [`EndOfTier [default] Deny trigger ${GNP} only-443 [default]`]
  },
  {
    name: 'tiers: kube-admin is built in (order 1000, ends with Pass) and kube-baseline runs after default',
    policies: [allowIn('kube-admin.only-443', { tier: 'kube-admin', ingress: onlyPort443 }), denyIn('kube-baseline.deny', { tier: 'kube-baseline' })],
    action: 'Deny',
    dst: [`EndOfTier [kube-admin] Pass trigger ${GNP} kube-admin.only-443 [kube-admin]`, `${GNP} kube-baseline.deny [kube-baseline] Deny rule 0`]
  },
  {
    name: 'tiers: kube-baseline (order 10,000,000) is not reached when the default tier decides',
    policies: [denyIn('kube-baseline.deny', { tier: 'kube-baseline' }), allowIn('allow')],
    action: 'Allow',
    dst: [`${GNP} allow [default] Allow rule 0`]
  },
  {
    name: 'tiers: a tier where no policy selects the endpoint is skipped (no end-of-tier hit)',
    policies: [tier('first', 10), denyIn('first.other', { tier: 'first', selector: "app == 'other'" }), allowIn('allow')],
    action: 'Allow',
    dst: [`${GNP} allow [default] Allow rule 0`]
  },
  {
    name: 'tiers: a tier whose policies apply only to the other direction is skipped',
    policies: [tier('first', 10), gnp('first.egress', { tier: 'first', selector: SERVER, types: ['Egress'], egress: [{ action: 'Deny' }] }), allowIn('allow')],
    action: 'Allow',
    dst: [`${GNP} allow [default] Allow rule 0`]
  }
])

// 2. Which policies apply to an endpoint.
run([
  {
    name: 'applicability: the selector picks the endpoints (client is not a server)',
    policies: [denyIn('deny-servers')],
    from: 'a/server',
    to: 'a/client',
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'applicability: the selector picks the endpoints (server is)',
    policies: [denyIn('deny-servers')],
    action: 'Deny',
    dst: [`${GNP} deny-servers [default] Deny rule 0`]
  },
  {
    name: 'applicability: a namespaced NetworkPolicy in b does not apply to a pod in a',
    policies: [np('b', 'deny-all', { selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'applicability: a namespaced NetworkPolicy in b applies to a pod in b',
    policies: [np('b', 'deny-all', { selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    to: 'b/server',
    action: 'Deny',
    dst: ['CalicoNetworkPolicy b/deny-all [default] Deny rule 0']
  },
  {
    name: 'applicability: a global namespaceSelector excludes pods of other namespaces',
    policies: [denyIn('deny-team-y', { namespaceSelector: "team == 'y'" })],
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'applicability: a global namespaceSelector includes pods of matching namespaces',
    policies: [denyIn('deny-team-y', { namespaceSelector: "team == 'y'" })],
    to: 'b/server',
    action: 'Deny',
    dst: [`${GNP} deny-team-y [default] Deny rule 0`]
  },
  {
    name: 'applicability: a global policy with a namespaceSelector never applies to a host endpoint',
    policies: [gnp('deny-all-ns', { selector: 'all()', namespaceSelector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    to: 'hep:node2',
    action: 'Allow',
    dst: ['Profile projectcalico-default-allow [__PROFILE__] Allow rule 0']
  },
  {
    name: 'applicability: a global policy without namespaceSelector applies to host endpoints',
    policies: [gnp('deny-all', { selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    to: 'hep:node2',
    action: 'Deny',
    dst: [`${GNP} deny-all [default] Deny rule 0`]
  },
  {
    name: 'applicability: serviceAccountSelector matches the labels of the pod\'s service account',
    policies: [denyIn('deny-web', { selector: 'all()', serviceAccountSelector: "role == 'web'" })],
    action: 'Deny',
    dst: [`${GNP} deny-web [default] Deny rule 0`]
  },
  {
    name: 'applicability: serviceAccountSelector excludes pods of other service accounts',
    policies: [denyIn('deny-web', { selector: 'all()', serviceAccountSelector: "role == 'web'" })],
    from: 'a/server',
    to: 'a/client',
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'applicability: serviceAccountSelector matches the service account name label',
    policies: [denyIn('deny-default-sa', { selector: 'all()', serviceAccountSelector: "projectcalico.org/name == 'default'" })],
    to: 'b/server',
    action: 'Deny',
    dst: [`${GNP} deny-default-sa [default] Deny rule 0`]
  },
  {
    name: 'types: omitted with only egress rules means Egress only (ingress not affected)',
    policies: [gnp('egress-only', { selector: 'all()', egress: [{ action: 'Deny' }] })],
    from: '10.9.9.9',
    action: 'Allow',
    src: [],
    dst: [profile('a')]
  },
  {
    name: 'types: omitted with only egress rules means Egress (egress denied)',
    policies: [gnp('egress-only', { selector: 'all()', egress: [{ action: 'Deny' }] })],
    from: 'a/server',
    to: '10.9.9.9',
    action: 'Deny',
    src: [`${GNP} egress-only [default] Deny rule 0`],
    dst: []
  },
  {
    name: 'types: omitted without rules means Ingress (end-of-tier Deny on ingress)',
    policies: [gnp('no-rules', { selector: SERVER })],
    action: 'Deny',
    dst: [`EndOfTier [default] Deny trigger ${GNP} no-rules [default]`]
  },
  {
    name: 'types: omitted without rules does not touch egress',
    policies: [gnp('no-rules', { selector: SERVER })],
    from: 'a/server',
    to: '10.9.9.9',
    action: 'Allow',
    src: [profile('a')],
    dst: []
  },
  {
    name: 'types: omitted with ingress and egress rules means both',
    policies: [gnp('both', { selector: SERVER, ingress: [{ action: 'Allow', protocol: 'UDP' }], egress: [{ action: 'Allow', protocol: 'UDP' }] })],
    from: 'a/server',
    to: 'b/server',
    action: 'Deny',
    src: [`EndOfTier [default] Deny trigger ${GNP} both [default]`],
    dst: [`EndOfTier [default] Deny trigger ${GNP} both [default]`]
  },
  {
    name: 'types (Kubernetes): omitted policyTypes with egress rules still includes Ingress',
    policies: [knp('a', 'egress-rules', { podSelector: { matchLabels: { app: 'server' } }, egress: [{}] })],
    action: 'Deny',
    dst: [`EndOfTier [default] Deny trigger NetworkPolicy a/egress-rules [default]`]
  },
  {
    name: 'types (Kubernetes): omitted policyTypes with egress rules includes Egress',
    policies: [knp('a', 'egress-rules', { podSelector: { matchLabels: { app: 'server' } }, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] })],
    from: 'a/server',
    to: '10.9.9.9',
    action: 'Deny',
    src: [`EndOfTier [default] Deny trigger NetworkPolicy a/egress-rules [default]`],
    dst: []
  },
  {
    name: 'types (Kubernetes): explicit policyTypes [Egress] leaves ingress alone',
    policies: [knp('a', 'egress-deny', { podSelector: {}, policyTypes: ['Egress'] })],
    action: 'Deny',
    src: [`EndOfTier [default] Deny trigger NetworkPolicy a/egress-deny [default]`],
    dst: [profile('a')]
  },
  {
    name: 'types (Kubernetes): omitted policyTypes without rules is Ingress only',
    policies: [knp('a', 'ingress-deny', { podSelector: {} })],
    action: 'Deny',
    src: [profile('a')],
    dst: [`EndOfTier [default] Deny trigger NetworkPolicy a/ingress-deny [default]`]
  }
])

// 2b. Policy order within a tier: order, none last, then name.
run([
  {
    name: 'policy order: lower order first, whatever the names',
    policies: [allowIn('a-allow', { order: 200 }), denyIn('b-deny', { order: 100 })],
    action: 'Deny',
    dst: [`${GNP} b-deny [default] Deny rule 0`]
  },
  {
    name: 'policy order: a policy without order comes after every ordered one',
    policies: [denyIn('a-no-order'), allowIn('z-ordered', { order: 1e9 })],
    action: 'Allow',
    dst: [`${GNP} z-ordered [default] Allow rule 0`]
  },
  {
    name: 'policy order: equal orders are broken by name',
    policies: [denyIn('beta', { order: 100 }), allowIn('alpha', { order: 100 })],
    action: 'Allow',
    dst: [`${GNP} alpha [default] Allow rule 0`]
  },
  {
    name: 'policy order: two policies without order are ordered by name',
    policies: [denyIn('beta'), allowIn('alpha')],
    action: 'Allow',
    dst: [`${GNP} alpha [default] Allow rule 0`]
  }
])

// 3-4. Rules, end of tier, profiles.
const rulesPolicy = gnp('rules', {
  selector: SERVER,
  types: ['Ingress'],
  ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [80] } }, { action: 'Allow' }, { action: 'Deny' }]
})
const passAll = gnp('sec.pass', { tier: 'sec', order: 1, selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Pass' }] })
run([
  {
    name: 'rules: the first matching Deny decides',
    policies: [rulesPolicy],
    action: 'Deny',
    dst: [`${GNP} rules [default] Deny rule 0`]
  },
  {
    name: 'rules: the first matching Allow decides (later Deny not reached)',
    policies: [rulesPolicy],
    probe: { port: 81 },
    action: 'Allow',
    dst: [`${GNP} rules [default] Allow rule 1`]
  },
  {
    name: 'rules: Pass leaves the tier (later policies of the tier skipped) and is reported',
    policies: [tier('sec', 10), passAll, denyIn('sec.deny', { tier: 'sec', order: 2 }), allowIn('allow')],
    action: 'Allow',
    dst: [`${GNP} sec.pass [sec] Pass rule 0`, `${GNP} allow [default] Allow rule 0`]
  },
  {
    name: 'rules: Pass from the last applicable tier goes to the profile',
    policies: [tier('sec', 10), passAll, denyIn('sec.deny', { tier: 'sec', order: 2 })],
    action: 'Allow',
    dst: [`${GNP} sec.pass [sec] Pass rule 0`, profile('a')]
  },
  {
    name: 'rules: Log is not terminal and not reported',
    policies: [gnp('log-allow', { selector: SERVER, ingress: [{ action: 'Log' }, { action: 'Allow' }] })],
    action: 'Allow',
    dst: [`${GNP} log-allow [default] Allow rule 1`]
  },
  {
    name: 'rules: a Log-only policy falls through to the end of the tier',
    policies: [gnp('log-only', { selector: SERVER, ingress: [{ action: 'Log' }] })],
    action: 'Deny',
    dst: [`EndOfTier [default] Deny trigger ${GNP} log-only [default]`]
  },
  {
    name: 'end of tier: Deny, triggered by the first policy that applied (not the first of the tier, not the last)',
    policies: [
      gnp('p0-client-only', { order: 5, selector: "app == 'client'", types: ['Ingress'], ingress: onlyPort443 }),
      allowIn('p1-first', { order: 10, ingress: onlyPort443 }),
      allowIn('p2-second', { order: 20, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8443] } }] })
    ],
    action: 'Deny',
    dst: [`EndOfTier [default] Deny trigger ${GNP} p1-first [default]`]
  },
  {
    name: 'end of tier: a tier with defaultAction Pass goes on to the next tier',
    policies: [tier('sec', 10, 'Pass'), allowIn('sec.only-443', { tier: 'sec', ingress: onlyPort443 }), denyIn('deny')],
    action: 'Deny',
    dst: [`EndOfTier [sec] Pass trigger ${GNP} sec.only-443 [sec]`, `${GNP} deny [default] Deny rule 0`]
  },
  {
    name: 'end of tier: Pass from the last tier reaches the namespace profile',
    policies: [tier('sec', 10, 'Pass'), allowIn('sec.only-443', { tier: 'sec', ingress: onlyPort443 })],
    action: 'Allow',
    dst: [`EndOfTier [sec] Pass trigger ${GNP} sec.only-443 [sec]`, profile('a')]
  },
  {
    name: 'profiles: no policy at all allows, through the kns.<namespace> profile of each end',
    policies: [],
    from: 'a/client',
    to: 'b/server',
    action: 'Allow',
    src: [profile('a')],
    dst: [profile('b')]
  },
  {
    name: 'host endpoint: no policy and no allowing profile denies',
    policies: [],
    to: 'hep:node1',
    action: 'Deny',
    dst: ['EndOfTier [__PROFILE__] Deny']
  },
  {
    name: 'host endpoint: the projectcalico-default-allow profile allows',
    policies: [],
    to: 'hep:node2',
    action: 'Allow',
    dst: ['Profile projectcalico-default-allow [__PROFILE__] Allow rule 0']
  },
  {
    name: 'host endpoint: a global policy selecting it by label decides',
    policies: [gnp('allow-nodes', { selector: "role == 'node'", ingress: [{ action: 'Allow' }] })],
    to: 'hep:node1',
    action: 'Allow',
    dst: [`${GNP} allow-nodes [default] Allow rule 0`]
  },
  {
    name: 'host endpoint: a namespaced policy never applies to it',
    policies: [np('a', 'allow-all', { selector: 'all()', ingress: [{ action: 'Allow' }] })],
    to: 'hep:node1',
    action: 'Deny',
    dst: ['EndOfTier [__PROFILE__] Deny']
  }
])

// Directions: egress on the source, ingress on the destination, both must allow; outside addresses not evaluated.
run([
  {
    name: 'direction: egress is evaluated on the source and its Deny denies the flow',
    policies: [gnp('deny-client-egress', { selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Deny' }] })],
    action: 'Deny',
    src: [`${GNP} deny-client-egress [default] Deny rule 0`],
    dst: [profile('a')]
  },
  {
    name: 'direction: the destination\'s egress policy is not consulted',
    policies: [gnp('deny-server-egress', { selector: SERVER, types: ['Egress'], egress: [{ action: 'Deny' }] })],
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'direction: the source\'s ingress policy is not consulted',
    policies: [gnp('deny-client-ingress', { selector: "app == 'client'", types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    action: 'Allow',
    dst: [profile('a')]
  },
  {
    name: 'direction: the source allows but the destination denies: denied',
    policies: [gnp('allow-client-egress', { selector: "app == 'client'", types: ['Egress'], egress: [{ action: 'Allow' }] }), denyIn('deny-server')],
    action: 'Deny',
    src: [`${GNP} allow-client-egress [default] Allow rule 0`],
    dst: [`${GNP} deny-server [default] Deny rule 0`]
  },
  {
    name: 'direction: an outside source is not evaluated (empty src trace)',
    policies: [denyIn('deny-server')],
    from: '10.9.9.9',
    action: 'Deny',
    src: [],
    dst: [`${GNP} deny-server [default] Deny rule 0`]
  },
  {
    name: 'direction: an outside destination is not evaluated (empty dst trace)',
    policies: [gnp('deny-all-ingress', { selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] })],
    to: '8.8.8.8',
    action: 'Allow',
    src: [profile('a')],
    dst: []
  }
])

test('trace hits carry namespace, policyIndex and trigger in Goldmane\'s shape', () => {
  const cluster = new TestCluster([...INVENTORY, tier('sec', 10), passAll, np('a', 'only-443', { selector: SERVER, ingress: onlyPort443 })])
  const v = cluster.probe('a/client', 'a/server', { port: 80 })
  assert.deepEqual(v.enforced.dst, [
    { kind: GNP, namespace: '', name: 'sec.pass', tier: 'sec', action: 'Pass', policyIndex: 0, ruleIndex: 0 },
    { kind: 'EndOfTier', namespace: '', name: '', tier: 'default', action: 'Deny', policyIndex: 1, ruleIndex: -1, trigger: { kind: 'CalicoNetworkPolicy', namespace: 'a', name: 'only-443', tier: 'default' } }
  ])
  assert.deepEqual(v.enforced.src, [{ kind: 'Profile', namespace: '', name: 'kns.a', tier: '__PROFILE__', action: 'Allow', policyIndex: 0, ruleIndex: 0 }])
  assert.deepEqual(v.unobservable, [])
})
