// Rule matching (design, "Rule match"): each row puts one rule in a policy that selects every endpoint, so the
// flow is allowed by that rule (rule 0) when it matches and denied at the end of the default tier when it does
// not. Rows come in pairs (match / no match) so that a check that always or never matches fails one of them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Resource, Rule } from '../../agent/src/policy/resources.js'
import {
  TestCluster, globalNetworkSet, gnp, hostEndpoint, namespace, networkSet, np, pod, service, serviceAccount,
  traceText, type ProbeOptions
} from './helpers/cluster-builder.js'

const INVENTORY: Resource[] = [
  namespace('a', { team: 'x' }),
  namespace('b', { team: 'y' }),
  serviceAccount('a', 'frontend', { role: 'web' }),
  serviceAccount('b', 'db-sa', { role: 'db' }),
  pod('a', 'client', '10.0.0.1', { labels: { app: 'client' } }),
  pod('a', 'web', '10.0.0.2', {
    labels: { app: 'web' },
    serviceAccount: 'frontend',
    ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }]
  }),
  pod('a', 'dual', '10.0.0.3', { labels: { app: 'dual' }, ips: ['fd00::3'] }),
  pod('a', 'fake-node', '10.0.0.9', { labels: { role: 'node' } }),
  pod('b', 'client', '10.0.1.1', { labels: { app: 'client' } }),
  pod('b', 'db', '10.0.1.2', { labels: { app: 'db' }, serviceAccount: 'db-sa', ports: [{ name: 'pg', containerPort: 5432 }, { name: 'http', containerPort: 8081 }] }),
  pod('b', 'v6', 'fd00::1:2', { labels: { app: 'v6' } }),
  hostEndpoint('node1', ['10.1.0.1'], { labels: { role: 'node' }, profiles: ['projectcalico-default-allow'], ports: [{ name: 'kubelet', protocol: 'TCP', port: 10250 }] }),
  globalNetworkSet('gateways', ['192.0.2.0/24'], { kind: 'gw' }),
  networkSet('a', 'partners', ['198.51.100.0/24'], { kind: 'partner' }),
  service('a', 'web-svc', '10.96.0.10', { app: 'web' }, [{ port: 80, targetPort: 'http', protocol: 'TCP' }]),
  service('b', 'db-svc', '10.96.0.20', { app: 'db' }, [{ port: 5432, targetPort: 5432 }])
]

interface RuleCase {
  name: string
  rule: Rule
  /** Which direction the rule is in (ingress: evaluated on `to`, egress: on `from`). */
  direction?: 'ingress' | 'egress'
  /** Put the rule in a namespaced NetworkPolicy of this namespace instead of a GlobalNetworkPolicy. */
  policyNamespace?: string
  from: string
  to: string
  probe?: ProbeOptions
  matches: boolean
}

const TCP80: ProbeOptions = { protocol: 'TCP', port: 80 }

function run (cases: readonly RuleCase[]): void {
  for (const c of cases) {
    test(`${c.matches ? 'matches' : 'does not match'}: ${c.name}`, () => {
      const direction = c.direction ?? 'ingress'
      const spec = direction === 'ingress'
        ? { selector: 'all()', types: ['Ingress' as const], ingress: [c.rule] }
        : { selector: 'all()', types: ['Egress' as const], egress: [c.rule] }
      const policy = c.policyNamespace === undefined ? gnp('under-test', spec) : np(c.policyNamespace, 'under-test', spec)
      const who = c.policyNamespace === undefined ? 'GlobalNetworkPolicy under-test' : `CalicoNetworkPolicy ${c.policyNamespace}/under-test`
      const cluster = new TestCluster([...INVENTORY, policy])
      const v = cluster.probe(c.from, c.to, c.probe ?? TCP80)
      const trace = traceText(direction === 'ingress' ? v.enforced.dst : v.enforced.src)
      assert.deepEqual(trace, c.matches ? [`${who} [default] Allow rule 0`] : [`EndOfTier [default] Deny trigger ${who} [default]`])
      assert.equal(v.enforced.action, c.matches ? 'Allow' : 'Deny')
    })
  }
}

const allow = (fields: Omit<Rule, 'action'>): Rule => ({ action: 'Allow', ...fields })

run([
  // Protocol, by name and by number.
  { name: 'protocol TCP (name) on a TCP flow', rule: allow({ protocol: 'TCP' }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'protocol TCP (name) on a UDP flow', rule: allow({ protocol: 'TCP' }), from: 'a/client', to: 'a/web', probe: { protocol: 'UDP', port: 80 }, matches: false },
  { name: 'protocol 17 (number) on a UDP flow', rule: allow({ protocol: 17 }), from: 'a/client', to: 'a/web', probe: { protocol: 'UDP', port: 53 }, matches: true },
  { name: 'protocol 6 (number) on a UDP flow', rule: allow({ protocol: 6 }), from: 'a/client', to: 'a/web', probe: { protocol: 'UDP', port: 53 }, matches: false },
  { name: 'protocol SCTP on protocol 132', rule: allow({ protocol: 'SCTP' }), from: 'a/client', to: 'a/web', probe: { protocol: 132, port: 80 }, matches: true },
  { name: 'notProtocol UDP on a TCP flow', rule: allow({ notProtocol: 'UDP' }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'notProtocol TCP on a TCP flow', rule: allow({ notProtocol: 'TCP' }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'notProtocol 6 on a TCP flow', rule: allow({ notProtocol: 6 }), from: 'a/client', to: 'a/web', matches: false },
  // ICMP type and code.
  { name: 'icmp type 8 on echo request', rule: allow({ protocol: 'ICMP', icmp: { type: 8 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 8, icmpCode: 0 }, matches: true },
  { name: 'icmp type 8 on echo reply', rule: allow({ protocol: 'ICMP', icmp: { type: 8 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 0, icmpCode: 0 }, matches: false },
  { name: 'icmp type 3 code 1 on 3/1', rule: allow({ protocol: 'ICMP', icmp: { type: 3, code: 1 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 3, icmpCode: 1 }, matches: true },
  { name: 'icmp type 3 code 1 on 3/3', rule: allow({ protocol: 'ICMP', icmp: { type: 3, code: 1 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 3, icmpCode: 3 }, matches: false },
  { name: 'notICMP type 8 on echo reply', rule: allow({ protocol: 'ICMP', notICMP: { type: 8 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 0, icmpCode: 0 }, matches: true },
  { name: 'notICMP type 8 on echo request', rule: allow({ protocol: 'ICMP', notICMP: { type: 8 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 8, icmpCode: 0 }, matches: false },
  { name: 'notICMP type 3 code 1 on 3/4 (only the exact pair is excluded)', rule: allow({ protocol: 'ICMP', notICMP: { type: 3, code: 1 } }), from: 'a/client', to: 'a/web', probe: { protocol: 'ICMP', icmpType: 3, icmpCode: 4 }, matches: true },
  { name: 'icmp type 128 with ICMPv6 on an IPv6 echo request', rule: allow({ protocol: 'ICMPv6', icmp: { type: 128 } }), from: 'fd00::3', to: 'fd00::1:2', probe: { protocol: 'ICMPv6', icmpType: 128, icmpCode: 0 }, matches: true },
  // IP version.
  { name: 'ipVersion 4 on an IPv4 flow', rule: allow({ ipVersion: 4 }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'ipVersion 6 on an IPv4 flow', rule: allow({ ipVersion: 6 }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'ipVersion 6 on an IPv6 flow', rule: allow({ ipVersion: 6 }), from: 'fd00::3', to: 'fd00::1:2', matches: true },
  { name: 'ipVersion 4 on an IPv6 flow', rule: allow({ ipVersion: 4 }), from: 'fd00::3', to: 'fd00::1:2', matches: false }
])

run([
  // nets / notNets, IPv4 and IPv6, host bits set.
  { name: 'source nets 10.0.0.0/24 from 10.0.0.1', rule: allow({ source: { nets: ['10.0.0.0/24'] } }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'source nets 10.0.0.0/24 from 10.0.1.1', rule: allow({ source: { nets: ['10.0.0.0/24'] } }), from: 'b/client', to: 'a/web', matches: false },
  { name: 'source nets with host bits set (10.0.0.77/24) from 10.0.0.1', rule: allow({ source: { nets: ['10.0.0.77/24'] } }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'source nets with host bits set (10.0.0.77/24) from 10.0.1.1', rule: allow({ source: { nets: ['10.0.0.77/24'] } }), from: 'b/client', to: 'a/web', matches: false },
  { name: 'source nets as a bare address', rule: allow({ source: { nets: ['10.0.0.1'] } }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'source nets as a bare address, other address', rule: allow({ source: { nets: ['10.0.0.1'] } }), from: 'a/dual', to: 'a/web', matches: false },
  { name: 'source nets fd00::/64 from fd00::3', rule: allow({ source: { nets: ['fd00::/64'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: true },
  { name: 'source nets fd00::3:0/64 (host bits) from fd00::3', rule: allow({ source: { nets: ['fd00::3:0/64'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: true },
  { name: 'source nets fd00:0:0:1::/64 from fd00::3', rule: allow({ source: { nets: ['fd00:0:0:1::/64'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: false },
  { name: 'source nets 0.0.0.0/0 never matches an IPv6 address', rule: allow({ source: { nets: ['0.0.0.0/0'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: false },
  { name: 'source nets ::/0 on an IPv6 address', rule: allow({ source: { nets: ['::/0'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: true },
  { name: 'source notNets 10.0.0.0/24 from 10.0.1.1', rule: allow({ source: { notNets: ['10.0.0.0/24'] } }), from: 'b/client', to: 'a/web', matches: true },
  { name: 'source notNets 10.0.0.0/24 from 10.0.0.1', rule: allow({ source: { notNets: ['10.0.0.0/24'] } }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'source notNets fd00::/16 from fd00::3', rule: allow({ source: { notNets: ['fd00::/16'] } }), from: 'fd00::3', to: 'fd00::1:2', matches: false },
  { name: 'destination nets (egress) to a gateway address', rule: allow({ destination: { nets: ['192.0.2.0/24'] } }), direction: 'egress', from: 'a/client', to: '192.0.2.5', matches: true },
  { name: 'destination nets (egress) to another address', rule: allow({ destination: { nets: ['192.0.2.0/24'] } }), direction: 'egress', from: 'a/client', to: '203.0.113.5', matches: false },
  { name: 'destination notNets (egress) to another address', rule: allow({ destination: { notNets: ['192.0.2.0/24'] } }), direction: 'egress', from: 'a/client', to: '203.0.113.5', matches: true }
])

run([
  // selector / notSelector against workloads, host endpoints and network sets.
  { name: 'global policy: source selector on a pod of the same namespace', rule: allow({ source: { selector: "app == 'client'" } }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'global policy: source selector on a pod of another namespace', rule: allow({ source: { selector: "app == 'client'" } }), from: 'b/client', to: 'a/web', matches: true },
  { name: 'global policy: source selector on a pod without the label', rule: allow({ source: { selector: "app == 'client'" } }), from: 'a/web', to: 'b/db', matches: false },
  { name: 'global policy: source selector on an outside address', rule: allow({ source: { selector: "app == 'client'" } }), from: '10.9.9.9', to: 'a/web', matches: false },
  { name: 'namespaced policy: source selector on a pod of its namespace', rule: allow({ source: { selector: "app == 'client'" } }), policyNamespace: 'a', from: 'a/client', to: 'a/web', matches: true },
  { name: 'namespaced policy: source selector limited to its namespace', rule: allow({ source: { selector: "app == 'client'" } }), policyNamespace: 'a', from: 'b/client', to: 'a/web', matches: false },
  { name: 'namespaced policy: namespaceSelector widens the selector to team y', rule: allow({ source: { namespaceSelector: "team == 'y'", selector: "app == 'client'" } }), policyNamespace: 'a', from: 'b/client', to: 'a/web', matches: true },
  { name: 'namespaced policy: namespaceSelector team y excludes its own namespace', rule: allow({ source: { namespaceSelector: "team == 'y'", selector: "app == 'client'" } }), policyNamespace: 'a', from: 'a/client', to: 'a/web', matches: false },
  { name: 'namespaced policy: namespaceSelector alone selects every pod of team y', rule: allow({ source: { namespaceSelector: "team == 'y'" } }), policyNamespace: 'a', from: 'b/db', to: 'a/web', matches: true },
  { name: 'global policy: namespaceSelector alone excludes other namespaces', rule: allow({ source: { namespaceSelector: "team == 'y'" } }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'namespaceSelector all() selects pods of any namespace', rule: allow({ source: { namespaceSelector: 'all()' } }), policyNamespace: 'a', from: 'b/db', to: 'a/web', matches: true },
  { name: 'namespaceSelector all() does not select host endpoints', rule: allow({ source: { namespaceSelector: 'all()' } }), policyNamespace: 'a', from: 'hep:node1', to: 'a/web', matches: false },
  { name: 'namespaceSelector all() does not select global network sets', rule: allow({ source: { namespaceSelector: 'all()' } }), policyNamespace: 'a', from: '192.0.2.5', to: 'a/web', matches: false },
  { name: 'global policy: selector on a host endpoint', rule: allow({ source: { selector: "role == 'node'" } }), from: 'hep:node1', to: 'a/web', matches: true },
  { name: 'namespaced policy: selector never matches a host endpoint', rule: allow({ source: { selector: "role == 'node'" } }), policyNamespace: 'a', from: 'hep:node1', to: 'a/web', matches: false },
  { name: 'namespaced policy: selector matches a pod with the same labels', rule: allow({ source: { selector: "role == 'node'" } }), policyNamespace: 'a', from: 'a/fake-node', to: 'a/web', matches: true },
  { name: 'namespaceSelector global() selects a host endpoint', rule: allow({ source: { namespaceSelector: 'global()', selector: "role == 'node'" } }), policyNamespace: 'a', from: 'hep:node1', to: 'a/web', matches: true },
  { name: 'namespaceSelector global() does not select a pod', rule: allow({ source: { namespaceSelector: 'global()', selector: "role == 'node'" } }), policyNamespace: 'a', from: 'a/fake-node', to: 'a/web', matches: false },
  { name: 'namespaceSelector global() selects a global network set', rule: allow({ source: { namespaceSelector: 'global()', selector: "kind == 'gw'" } }), policyNamespace: 'a', from: '192.0.2.5', to: 'a/web', matches: true },
  { name: 'global policy: namespaceSelector global() alone does not select pods', rule: allow({ source: { namespaceSelector: 'global()' } }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'global policy: selector on a GlobalNetworkSet containing the address', rule: allow({ source: { selector: "kind == 'gw'" } }), from: '192.0.2.5', to: 'a/web', matches: true },
  { name: 'global policy: selector on an address outside every network set', rule: allow({ source: { selector: "kind == 'gw'" } }), from: '203.0.113.9', to: 'a/web', matches: false },
  { name: 'namespaced policy: selector on a NetworkSet of its namespace', rule: allow({ source: { selector: "kind == 'partner'" } }), policyNamespace: 'a', from: '198.51.100.7', to: 'a/web', matches: true },
  { name: 'namespaced policy: selector on a NetworkSet of another namespace', rule: allow({ source: { selector: "kind == 'partner'" } }), policyNamespace: 'b', from: '198.51.100.7', to: 'b/db', matches: false },
  { name: 'namespaced policy: namespaceSelector reaches a NetworkSet of another namespace', rule: allow({ source: { namespaceSelector: "team == 'x'", selector: "kind == 'partner'" } }), policyNamespace: 'b', from: '198.51.100.7', to: 'b/db', matches: true },
  { name: 'global policy: notSelector on a pod without the label', rule: allow({ source: { notSelector: "app == 'client'" } }), from: 'a/web', to: 'b/db', matches: true },
  { name: 'global policy: notSelector on a pod with the label', rule: allow({ source: { notSelector: "app == 'client'" } }), from: 'a/client', to: 'b/db', matches: false },
  { name: 'global policy: notSelector on an outside address', rule: allow({ source: { notSelector: "app == 'client'" } }), from: '10.9.9.9', to: 'b/db', matches: true },
  { name: 'global policy: notSelector on an address in a matching network set', rule: allow({ source: { notSelector: "kind == 'gw'" } }), from: '192.0.2.5', to: 'b/db', matches: false },
  { name: 'namespaced policy: notSelector on a pod of its namespace without the label', rule: allow({ source: { notSelector: "app == 'client'" } }), policyNamespace: 'a', from: 'a/fake-node', to: 'a/web', matches: true },
  { name: 'namespaced policy: notSelector alone is still limited to its namespace (pod elsewhere)', rule: allow({ source: { notSelector: "app == 'client'" } }), policyNamespace: 'a', from: 'b/db', to: 'a/web', matches: false },
  { name: 'namespaced policy: notSelector alone is still limited to its namespace (outside address)', rule: allow({ source: { notSelector: "app == 'client'" } }), policyNamespace: 'a', from: '10.9.9.9', to: 'a/web', matches: false },
  { name: 'selector and notSelector together (selected, not excluded)', rule: allow({ source: { selector: 'has(app)', notSelector: "app == 'client'" } }), from: 'a/web', to: 'b/db', matches: true },
  { name: 'selector and notSelector together (excluded)', rule: allow({ source: { selector: 'has(app)', notSelector: "app == 'client'" } }), from: 'a/client', to: 'b/db', matches: false },
  { name: 'destination selector (egress) on the destination pod', rule: allow({ destination: { selector: "app == 'db'" } }), direction: 'egress', from: 'a/client', to: 'b/db', matches: true },
  { name: 'destination selector (egress) on another pod', rule: allow({ destination: { selector: "app == 'db'" } }), direction: 'egress', from: 'a/client', to: 'a/web', matches: false }
])

run([
  // serviceAccounts: names and selector, same entity, namespace of namespaced policies.
  { name: 'serviceAccounts names on a pod running as it', rule: allow({ source: { serviceAccounts: { names: ['frontend'] } } }), from: 'a/web', to: 'b/db', matches: true },
  { name: 'serviceAccounts names on a pod running as another', rule: allow({ source: { serviceAccounts: { names: ['frontend'] } } }), from: 'a/client', to: 'b/db', matches: false },
  { name: 'serviceAccounts names in a namespaced policy: only its namespace', rule: allow({ source: { serviceAccounts: { names: ['frontend'] } } }), policyNamespace: 'b', from: 'a/web', to: 'b/db', matches: false },
  { name: 'serviceAccounts selector on the service account labels', rule: allow({ source: { serviceAccounts: { selector: "role == 'web'" } } }), from: 'a/web', to: 'b/db', matches: true },
  { name: 'serviceAccounts selector on other labels', rule: allow({ source: { serviceAccounts: { selector: "role == 'web'" } } }), from: 'b/db', to: 'a/web', matches: false },
  { name: 'serviceAccounts names and selector must both hold', rule: allow({ source: { serviceAccounts: { names: ['db-sa'], selector: "role == 'web'" } } }), from: 'b/db', to: 'a/web', matches: false },
  { name: 'serviceAccounts never match a host endpoint', rule: allow({ source: { serviceAccounts: { selector: 'all()' } } }), from: 'hep:node1', to: 'a/web', matches: false },
  // services: destination cluster IP or backend pod (after DNAT); source backend pods.
  { name: 'destination services: the cluster IP', rule: allow({ destination: { services: { name: 'web-svc', namespace: 'a' } } }), direction: 'egress', from: 'a/client', to: '10.96.0.10', matches: true },
  { name: 'destination services: a backend pod on the (named) target port', rule: allow({ destination: { services: { name: 'web-svc', namespace: 'a' } } }), direction: 'egress', from: 'a/client', to: 'a/web', probe: { port: 8080 }, matches: true },
  { name: 'destination services: a backend pod on another port', rule: allow({ destination: { services: { name: 'web-svc', namespace: 'a' } } }), direction: 'egress', from: 'a/client', to: 'a/web', probe: { port: 9999 }, matches: false },
  { name: 'destination services: a pod that is not a backend', rule: allow({ destination: { services: { name: 'web-svc', namespace: 'a' } } }), direction: 'egress', from: 'a/client', to: 'b/db', probe: { port: 8080 }, matches: false },
  { name: 'destination services: another service\'s cluster IP', rule: allow({ destination: { services: { name: 'web-svc', namespace: 'a' } } }), direction: 'egress', from: 'a/client', to: '10.96.0.20', probe: { port: 5432 }, matches: false },
  { name: 'destination services: namespace defaults to the policy\'s', rule: allow({ destination: { services: { name: 'web-svc' } } }), direction: 'egress', policyNamespace: 'a', from: 'a/client', to: '10.96.0.10', matches: true },
  { name: 'source services: a backend pod', rule: allow({ source: { services: { name: 'web-svc', namespace: 'a' } } }), from: 'a/web', to: 'b/db', probe: { port: 5432 }, matches: true },
  { name: 'source services: a pod that is not a backend', rule: allow({ source: { services: { name: 'web-svc', namespace: 'a' } } }), from: 'a/client', to: 'b/db', probe: { port: 5432 }, matches: false }
])

run([
  // ports / notPorts: numbers, ranges, named ports.
  { name: 'ports [80] on port 80', rule: allow({ protocol: 'TCP', destination: { ports: [80] } }), from: 'a/client', to: 'a/web', matches: true },
  { name: 'ports [80] on port 81', rule: allow({ protocol: 'TCP', destination: { ports: [80] } }), from: 'a/client', to: 'a/web', probe: { port: 81 }, matches: false },
  { name: 'ports range 1000:2000 on 1500', rule: allow({ protocol: 'TCP', destination: { ports: ['1000:2000'] } }), from: 'a/client', to: 'a/web', probe: { port: 1500 }, matches: true },
  { name: 'ports range 1000:2000 on 2000 (inclusive)', rule: allow({ protocol: 'TCP', destination: { ports: ['1000:2000'] } }), from: 'a/client', to: 'a/web', probe: { port: 2000 }, matches: true },
  { name: 'ports range 1000:2000 on 2001', rule: allow({ protocol: 'TCP', destination: { ports: ['1000:2000'] } }), from: 'a/client', to: 'a/web', probe: { port: 2001 }, matches: false },
  { name: 'named port http on the pod\'s http port', rule: allow({ protocol: 'TCP', destination: { ports: ['http'] } }), from: 'a/client', to: 'a/web', probe: { port: 8080 }, matches: true },
  { name: 'named port http on a port the pod does not name http', rule: allow({ protocol: 'TCP', destination: { ports: ['http'] } }), from: 'a/client', to: 'a/web', probe: { port: 8081 }, matches: false },
  { name: 'named port http resolves per pod (8081 on b/db)', rule: allow({ protocol: 'TCP', destination: { ports: ['http'] } }), from: 'a/client', to: 'b/db', probe: { port: 8081 }, matches: true },
  { name: 'named UDP port dns on UDP 53', rule: allow({ protocol: 'UDP', destination: { ports: ['dns'] } }), from: 'a/client', to: 'a/web', probe: { protocol: 'UDP', port: 53 }, matches: true },
  { name: 'named UDP port dns on TCP 53', rule: allow({ protocol: 'TCP', destination: { ports: ['dns'] } }), from: 'a/client', to: 'a/web', probe: { protocol: 'TCP', port: 53 }, matches: false },
  { name: 'named port of a host endpoint', rule: allow({ protocol: 'TCP', destination: { ports: ['kubelet'] } }), from: 'a/client', to: 'hep:node1', probe: { port: 10250 }, matches: true },
  { name: 'namespaced policy: a named port without selector resolves on a pod of any namespace (egress)', rule: allow({ protocol: 'TCP', destination: { ports: ['http'] } }), direction: 'egress', policyNamespace: 'a', from: 'a/client', to: 'b/db', probe: { port: 8081 }, matches: true },
  { name: 'namespaced policy: a named port with a selector stays in its namespace (egress)', rule: allow({ protocol: 'TCP', destination: { selector: 'has(app)', ports: ['http'] } }), direction: 'egress', policyNamespace: 'a', from: 'a/client', to: 'b/db', probe: { port: 8081 }, matches: false },
  { name: 'notPorts [80] on port 81', rule: allow({ protocol: 'TCP', destination: { notPorts: [80] } }), from: 'a/client', to: 'a/web', probe: { port: 81 }, matches: true },
  { name: 'notPorts [80] on port 80', rule: allow({ protocol: 'TCP', destination: { notPorts: [80] } }), from: 'a/client', to: 'a/web', matches: false },
  { name: 'notPorts range 1000:2000 on 1500', rule: allow({ protocol: 'TCP', destination: { notPorts: ['1000:2000'] } }), from: 'a/client', to: 'a/web', probe: { port: 1500 }, matches: false },
  { name: 'notPorts named http on the http port', rule: allow({ protocol: 'TCP', destination: { notPorts: ['http'] } }), from: 'a/client', to: 'a/web', probe: { port: 8080 }, matches: false },
  { name: 'notPorts named http on another port', rule: allow({ protocol: 'TCP', destination: { notPorts: ['http'] } }), from: 'a/client', to: 'a/web', probe: { port: 8081 }, matches: true },
  { name: 'source ports on the source port', rule: allow({ protocol: 'TCP', source: { ports: [12345] } }), from: 'a/client', to: 'a/web', probe: { port: 80, srcPort: 12345 }, matches: true },
  { name: 'source ports on another source port', rule: allow({ protocol: 'TCP', source: { ports: [12345] } }), from: 'a/client', to: 'a/web', probe: { port: 80, srcPort: 40000 }, matches: false }
])

test('http rules are unobservable: never matched, reported in `unobservable`', () => {
  const cluster = new TestCluster([...INVENTORY, gnp('l7', { selector: "app == 'web'", ingress: [{ action: 'Allow', http: { methods: ['GET'] } }, { action: 'Deny', protocol: 'UDP' }] })])
  const v = cluster.probe('a/client', 'a/web', TCP80)
  assert.equal(v.enforced.action, 'Deny')
  assert.deepEqual(traceText(v.enforced.dst), ['EndOfTier [default] Deny trigger GlobalNetworkPolicy l7 [default]'])
  assert.deepEqual(v.unobservable, ['http'])
  // A flow that never reaches the http rule reports nothing.
  const other = cluster.probe('a/client', 'b/db', TCP80)
  assert.deepEqual(other.unobservable, [])
})

test('a Deny http rule is not silently matched either', () => {
  const cluster = new TestCluster([...INVENTORY, gnp('l7', { selector: "app == 'web'", ingress: [{ action: 'Deny', http: { paths: [{ prefix: '/admin' }] } }, { action: 'Allow' }] })])
  const v = cluster.probe('a/client', 'a/web', TCP80)
  assert.deepEqual(traceText(v.enforced.dst), ['GlobalNetworkPolicy l7 [default] Allow rule 1'])
  assert.deepEqual(v.unobservable, ['http'])
})
