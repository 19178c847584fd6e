// validateResource: one good document per kind, the mistakes a new user makes (each with its exact file:line and
// field path), and the real-world documents of the shared conformance vectors, which must all be accepted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ResourceInvalidError } from '../../agent/src/errors.js'
import { parseDocuments } from '../../agent/src/policy/parse-documents.js'
import { SUPPORTED_KINDS, validateResource } from '../../agent/src/policy/validate-resource.js'

/** Every problem of every document in `text`, as the CLI prints them. */
function problems (text: string, file = 'shop.yaml'): string[] {
  const parsed = parseDocuments(text, file)
  assert.deepEqual(parsed.errors.map(e => e.describe()), [], 'the fixture itself must parse')
  return parsed.documents.flatMap(d => {
    const result = validateResource(d)
    if (result.ok) return []
    for (const e of result.errors) assert.ok(e instanceof ResourceInvalidError)
    return result.errors.map(e => e.describe())
  })
}

const GOOD: Array<{ kind: string, yaml: string }> = [
  {
    kind: 'projectcalico.org/v3 NetworkPolicy (bare name, every rule feature)',
    yaml: `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: shop
  labels: {team: web}
spec:
  tier: default
  order: 100.5
  selector: app == 'web'
  serviceAccountSelector: role == 'frontend'
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: TCP
      source:
        nets: [10.0.0.0/8, 10.1.2.3/16]
        namespaceSelector: global()
        serviceAccounts: {names: [web], selector: "a == 'b'"}
      destination:
        ports: [80, "8080", "9000:9100", http]
        notPorts: [81]
    - action: Allow
      protocol: ICMP
      icmp: {type: 8, code: 0}
      ipVersion: 4
    - action: Pass
      protocol: 17
      http: {methods: [GET], paths: [{prefix: /api}]}
    - action: Log
      destination:
        ports: [metrics]
  egress:
    - action: Deny
      notProtocol: UDPLite
      destination:
        notNets: ["fd00::/64"]
    - action: Allow
      destination:
        services: {name: db, namespace: data}
`
  },
  {
    kind: 'projectcalico.org/v3 NetworkPolicy (tier-prefixed name)',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: security.block, namespace: shop}\nspec: {tier: security, selector: all()}\n'
  },
  {
    kind: 'projectcalico.org/v3 NetworkPolicy without spec',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: empty}\n'
  },
  {
    kind: 'projectcalico.org/v3 GlobalNetworkPolicy',
    yaml: `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: platform.deny-metadata}
spec:
  tier: platform
  namespaceSelector: has(projectcalico.org/name)
  doNotTrack: false
  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
    - action: Deny
      protocol: TCP
      source: {services: {name: api, namespace: default}}
      destination: {nets: [169.254.169.254/32], ports: [80]}
`
  },
  {
    kind: 'projectcalico.org/v3 StagedNetworkPolicy (Set)',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: s, namespace: shop}\nspec: {stagedAction: Set, selector: all(), ingress: [{action: Deny}]}\n'
  },
  {
    kind: 'projectcalico.org/v3 StagedGlobalNetworkPolicy (Delete: tier only)',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: platform.old}\nspec: {stagedAction: Delete, tier: platform}\n'
  },
  {
    kind: 'projectcalico.org/v3 StagedKubernetesNetworkPolicy',
    yaml: `apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: knp, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {}}]
      ports: [{port: 80}]
`
  },
  {
    kind: 'projectcalico.org/v3 StagedKubernetesNetworkPolicy (Delete)',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: {name: knp, namespace: shop}\nspec: {stagedAction: Delete, podSelector: {}}\n'
  },
  { kind: 'projectcalico.org/v3 Tier', yaml: 'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100, defaultAction: Pass}\n' },
  { kind: 'projectcalico.org/v3 NetworkSet', yaml: 'apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: partners, namespace: shop, labels: {role: partner}}\nspec: {nets: [198.51.100.0/24, 203.0.113.7, "2001:db8::/32"]}\n' },
  { kind: 'projectcalico.org/v3 GlobalNetworkSet', yaml: 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: internet}\nspec: {nets: [0.0.0.0/0]}\n' },
  { kind: 'projectcalico.org/v3 HostEndpoint', yaml: 'apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: node1-eth0, labels: {role: node}}\nspec: {node: node1, interfaceName: eth0, expectedIPs: [192.0.2.10, "2001:db8::10"], ports: [{name: ssh, port: 22, protocol: TCP}]}\n' },
  {
    kind: 'networking.k8s.io/v1 NetworkPolicy',
    yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a, b]}]}
          podSelector: {matchLabels: {app: api}}
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
      ports:
        - {protocol: TCP, port: 5432}
        - {protocol: TCP, port: 6000, endPort: 6100}
        - {port: metrics}
  egress:
    - to: [{ipBlock: {cidr: "2001:db8::/32"}}]
status: {}
`
  },
  {
    kind: 'v1 Pod (as kubectl get -o yaml prints it)',
    yaml: `apiVersion: v1
kind: Pod
metadata:
  name: web-7d4b9
  namespace: shop
  labels: {app: web, pod-template-hash: 7d4b9}
  uid: 0b9e
  resourceVersion: "123"
  creationTimestamp: "2024-01-01T00:00:00Z"
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: x}]
  managedFields: [{manager: kubelet}]
spec:
  nodeName: node1
  serviceAccountName: web
  containers:
    - name: web
      image: nginx
      ports: [{name: http, containerPort: 8080, protocol: TCP}, {containerPort: 9090}]
      resources: {}
  tolerations: []
status:
  phase: Running
  podIP: 10.244.1.5
  podIPs: [{ip: 10.244.1.5}, {ip: "fd00::5"}]
  conditions: [{type: Ready, status: "True"}]
`
  },
  { kind: 'v1 Namespace', yaml: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {kubernetes.io/metadata.name: shop}}\nspec: {finalizers: [kubernetes]}\nstatus: {phase: Active}\n' },
  { kind: 'v1 ServiceAccount', yaml: 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\nsecrets: []\n' },
  { kind: 'v1 Service', yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.10]\n  type: ClusterIP\n  sessionAffinity: None\n  ports: [{name: http, port: 80, targetPort: http}, {name: alt, port: 8080, targetPort: 8080, protocol: TCP}]\n' },
  { kind: 'v1 Service (headless)', yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: data}\nspec: {clusterIP: None, ports: [{port: 5432}]}\n' }
]

for (const c of GOOD) {
  test(`accepts ${c.kind}`, () => {
    assert.deepEqual(problems(c.yaml), [])
  })
}

test('every kind in the catalogue has a good case above', () => {
  const covered = new Set(GOOD.map(c => c.kind.split(' ').slice(0, 2).join(' ')))
  for (const [apiVersion, kinds] of Object.entries(SUPPORTED_KINDS)) {
    for (const kind of kinds) assert.ok(covered.has(`${apiVersion} ${kind}`), `${apiVersion} ${kind}`)
  }
})

const NP = 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n' // spec fields start on line 7
const KNP = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n'

const BAD: Array<{ name: string, yaml: string, expect: string[] }> = [
  {
    name: 'typo in kind',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicyy\nmetadata: {name: x}\n',
    expect: ['shop.yaml:2: kind: unknown kind "NetworkPolicyy" (did you mean "NetworkPolicy"?)']
  },
  {
    name: 'wrong Calico apiVersion',
    yaml: 'apiVersion: projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n',
    expect: ['shop.yaml:1: apiVersion: unknown apiVersion "projectcalico.org/v1" (did you mean "projectcalico.org/v3"?)']
  },
  {
    name: 'Calico storage apiVersion',
    yaml: 'apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: x}\n',
    expect: ['shop.yaml:1: apiVersion: unknown apiVersion "crd.projectcalico.org/v1" (crd.projectcalico.org/v1 is Calico\'s internal storage API; write projectcalico.org/v3)']
  },
  {
    name: 'kind under the wrong apiVersion',
    yaml: 'apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: x}\n',
    expect: ['shop.yaml:2: kind: kind NetworkPolicy is not served by apiVersion v1; use apiVersion projectcalico.org/v3 or networking.k8s.io/v1']
  },
  {
    name: 'typo in a field',
    yaml: `${NP}  selector: all()\n  ingress:\n    - action: Allow\n      protocl: TCP\n`,
    expect: ['shop.yaml:10: spec.ingress[0].protocl: unknown field "protocl" (did you mean "protocol"?)']
  },
  {
    name: 'typo in metadata',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  lables: {app: web}\n',
    expect: ['shop.yaml:5: metadata.lables: unknown field "lables" (did you mean "labels"?)']
  },
  {
    name: 'bad selector',
    yaml: `${NP}  selector: app = 'web'\n`,
    expect: ['shop.yaml:7: spec.selector: selector "app = \'web\'" does not parse']
  },
  {
    name: 'global() in a policy selector',
    yaml: `${NP}  selector: global()\n`,
    expect: ['shop.yaml:7: spec.selector: global() may only be used as the whole namespaceSelector of a rule source or destination']
  },
  {
    name: 'global() combined with another selector in a rule',
    yaml: `${NP}  ingress:\n    - action: Allow\n      source:\n        namespaceSelector: global() && a == 'b'\n`,
    expect: ['shop.yaml:10: spec.ingress[0].source.namespaceSelector: global() cannot be combined with other selectors']
  },
  {
    name: 'bad CIDR',
    yaml: `${NP}  egress:\n    - action: Allow\n      destination:\n        nets:\n          - 10.0.0.0/8\n          - 10.300.0.0/16\n`,
    expect: ['shop.yaml:12: spec.egress[0].destination.nets[1]: "10.300.0.0/16" is not a valid CIDR']
  },
  {
    name: 'port 70000',
    yaml: `${NP}  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports:\n          - 80\n          - 70000\n`,
    expect: ['shop.yaml:13: spec.ingress[0].destination.ports[1]: "70000" is not a valid port']
  },
  {
    name: 'backwards port range',
    yaml: `${NP}  ingress:\n    - action: Allow\n      protocol: TCP\n      destination: {ports: ["2000:1000"]}\n`,
    expect: ['shop.yaml:10: spec.ingress[0].destination.ports[0]: "2000:1000" is not a valid port range (the first port must not exceed the second)']
  },
  {
    name: 'numeric ports without protocol',
    yaml: `${NP}  ingress:\n    - action: Allow\n      destination:\n        ports: [80]\n`,
    expect: ['shop.yaml:10: spec.ingress[0].destination.ports: numeric ports and port ranges need the rule\'s protocol set to TCP, UDP or SCTP']
  },
  {
    name: 'ports with ICMP',
    yaml: `${NP}  ingress:\n    - action: Allow\n      protocol: ICMP\n      source: {ports: [http]}\n`,
    expect: ['shop.yaml:10: spec.ingress[0].source.ports: ports need the rule\'s protocol to be TCP, UDP or SCTP, not "ICMP"']
  },
  {
    name: 'lower-case protocol and bad action',
    yaml: `${NP}  ingress:\n    - action: allow\n      protocol: tcp\n`,
    expect: [
      'shop.yaml:8: spec.ingress[0].action: "allow" is not one of Allow, Deny, Log, Pass (did you mean "Allow"?)',
      'shop.yaml:9: spec.ingress[0].protocol: "tcp" is not a valid protocol (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1–255) (did you mean "TCP"?)'
    ]
  },
  {
    name: 'icmp without ICMP protocol, code without type',
    yaml: `${NP}  ingress:\n    - action: Allow\n      protocol: TCP\n      icmp:\n        code: 3\n`,
    expect: [
      'shop.yaml:10: spec.ingress[0].icmp: icmp needs the rule\'s protocol to be ICMP or ICMPv6',
      'shop.yaml:11: spec.ingress[0].icmp.code: an ICMP code needs an ICMP type'
    ]
  },
  {
    name: 'ipVersion against nets',
    yaml: `${NP}  egress:\n    - action: Allow\n      ipVersion: 6\n      destination: {nets: [10.0.0.0/8]}\n`,
    expect: ['shop.yaml:10: spec.egress[0].destination.nets[0]: "10.0.0.0/8" is an IPv4 CIDR but the rule\'s ipVersion is 6']
  },
  {
    name: 'wrong type',
    yaml: `${NP}  order: first\n  ingress: {action: Allow}\n`,
    expect: ['shop.yaml:7: spec.order: expected a number, got a string ("first")', 'shop.yaml:8: spec.ingress: expected a list, got a mapping']
  },
  {
    name: 'name missing, bad namespace',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  namespace: Shop\nspec: {}\n',
    expect: ['shop.yaml:3: metadata.name: is required', 'shop.yaml:4: metadata.namespace: "Shop" is not a valid name']
  },
  {
    name: 'namespace on a cluster-scoped kind',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\n  namespace: shop\n',
    expect: ['shop.yaml:5: metadata.namespace: GlobalNetworkPolicy is cluster-scoped; remove metadata.namespace']
  },
  {
    name: 'tier prefix that is not the tier',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: security.block\nspec: {tier: platform}\n',
    expect: ['shop.yaml:4: metadata.name: "security.block" is prefixed with tier "security" but the policy is in tier "platform"']
  },
  {
    name: 'Delete staged policy with rules',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: s, namespace: shop}\nspec:\n  stagedAction: Delete\n  tier: default\n  selector: all()\n  ingress:\n    - action: Allow\n',
    expect: [
      'shop.yaml:7: spec.selector: must not be set when stagedAction is Delete',
      'shop.yaml:8: spec.ingress: must not be set when stagedAction is Delete'
    ]
  },
  {
    name: 'Delete staged Kubernetes policy with a podSelector',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: {name: s, namespace: shop}\nspec:\n  stagedAction: Delete\n  podSelector: {matchLabels: {app: web}}\n',
    expect: ['shop.yaml:6: spec.podSelector: must not be set when stagedAction is Delete']
  },
  {
    name: 'bad stagedAction and Tier defaultAction',
    yaml: 'apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: s}\nspec: {stagedAction: Remove}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec:\n  defaultAction: Allow\n',
    expect: ['shop.yaml:4: spec.stagedAction: "Remove" is not one of Set, Delete', 'shop.yaml:10: spec.defaultAction: "Allow" is not one of Deny, Pass']
  },
  {
    name: 'services in an egress source',
    yaml: `${NP}  egress:\n    - action: Allow\n      source:\n        services: {name: api}\n`,
    expect: ['shop.yaml:10: spec.egress[0].source.services: services are not allowed in egress rule sources']
  },
  {
    name: 'Kubernetes policy without podSelector',
    yaml: `${KNP}  policyTypes: [Ingress]\n`,
    expect: ['shop.yaml:6: spec.podSelector: is required (use podSelector: {} to select every pod in the namespace)']
  },
  {
    name: 'Kubernetes ports: protocol, quoted number, endPort',
    yaml: `${KNP}  podSelector: {}\n  ingress:\n    - ports:\n        - {protocol: ICMP, port: 80}\n        - port: "8080"\n        - port: http\n          endPort: 90\n        - port: 100\n          endPort: 90\n`,
    expect: [
      'shop.yaml:10: spec.ingress[0].ports[0].protocol: "ICMP" is not one of TCP, UDP, SCTP',
      'shop.yaml:11: spec.ingress[0].ports[1].port: "8080" is not a valid port name (write the number without quotes: 8080)',
      'shop.yaml:13: spec.ingress[0].ports[2].endPort: endPort cannot be used with a named port',
      'shop.yaml:15: spec.ingress[0].ports[3].endPort: must be greater than or equal to port (100)'
    ]
  },
  {
    name: 'Kubernetes ipBlock: except outside cidr, bare IP, mixed peer',
    yaml: `${KNP}  podSelector: {}\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/16\n            except: [10.1.0.0/24]\n        - ipBlock: {cidr: 10.0.0.1}\n        - ipBlock: {cidr: 10.0.0.0/8}\n          podSelector: {}\n`,
    expect: [
      'shop.yaml:12: spec.egress[0].to[0].ipBlock.except[0]: "10.1.0.0/24" is not a strict subset of cidr "10.0.0.0/16"',
      'shop.yaml:13: spec.egress[0].to[1].ipBlock.cidr: "10.0.0.1" is not a valid CIDR (write it with a prefix length, e.g. 10.0.0.1/32)',
      'shop.yaml:14: spec.egress[0].to[2].ipBlock: ipBlock cannot be combined with podSelector or namespaceSelector in one peer'
    ]
  },
  {
    name: 'Kubernetes label selector operator',
    yaml: `${KNP}  podSelector:\n    matchExpressions:\n      - {key: app, operator: Exists, values: [x]}\n      - {key: app, operator: in, values: [x]}\n`,
    expect: [
      'shop.yaml:9: spec.podSelector.matchExpressions[0].values: must be empty when operator is Exists',
      'shop.yaml:10: spec.podSelector.matchExpressions[1].operator: "in" is not one of In, NotIn, Exists, DoesNotExist (did you mean "In"?)'
    ]
  },
  {
    name: 'Pod: bad IPs, container port name and number, numeric label',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {version: 2}\nspec:\n  containers:\n    - name: c\n      ports:\n        - {name: Web_Port, containerPort: 0}\nstatus:\n  podIP: 10.0.0.256\n  podIPs:\n    - ip: "fd00::g"\n',
    expect: [
      'shop.yaml:5: metadata.labels.version: expected a string, got a number (2); quote it',
      'shop.yaml:10: spec.containers[0].ports[0].name: "Web_Port" is not a valid port name: port names hold only lower-case letters, digits and "-"',
      'shop.yaml:10: spec.containers[0].ports[0].containerPort: "0" is not a valid port (expected 1–65535)',
      'shop.yaml:12: status.podIP: "10.0.0.256" is not a valid IPv4 or IPv6 address',
      'shop.yaml:14: status.podIPs[0].ip: "fd00::g" is not a valid IPv4 or IPv6 address'
    ]
  },
  {
    name: 'Service: bad clusterIP and unnamed ports',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  clusterIP: none\n  ports:\n    - port: 80\n    - port: 81\n',
    expect: [
      'shop.yaml:5: spec.clusterIP: "none" is not a valid IPv4 or IPv6 address',
      'shop.yaml:7: spec.ports[0].name: is required when a Service has more than one port',
      'shop.yaml:8: spec.ports[1].name: is required when a Service has more than one port'
    ]
  },
  {
    name: 'not a resource at all',
    yaml: '- a\n- b\n',
    expect: ['shop.yaml:1: expected a resource (a mapping with apiVersion, kind and metadata), got a list']
  }
]

for (const c of BAD) {
  test(`rejects: ${c.name}`, () => {
    const got = problems(c.yaml)
    assert.equal(got.length, c.expect.length, `got:\n${got.join('\n')}`)
    // Each expectation is the exact `file:line: field: ` prefix plus the start (or all) of the message.
    c.expect.forEach((want, i) => assert.ok(got[i]?.startsWith(want), `#${i}\n  got:  ${got[i]}\n  want: ${want}…`))
  })
}

test('the selector column is carried on the error', () => {
  const parsed = parseDocuments(`${NP}  selector: app = 'web'\n`, 'shop.yaml')
  const result = validateResource(parsed.documents[0] as (typeof parsed.documents)[0])
  assert.equal(result.ok, false)
  if (result.ok) return
  assert.equal(result.errors[0]?.location.column, 5)
  assert.match(result.errors[0]?.message ?? '', /column 5/)
})

test('one bad document does not hide the errors of the next', () => {
  const got = problems(`${NP}  order: x\n---\n${NP}  types: [Ingres]\n`)
  assert.deepEqual(got.map(g => g.split(':').slice(0, 3).join(':')), ['shop.yaml:7: spec.order', 'shop.yaml:15: spec.types[0]'])
})

// ---- the shared conformance vectors: real-world documents that must all validate

const SHARED = new URL('../../../../shared/conformance/', import.meta.url)
const readShared = (name: string): any => JSON.parse(readFileSync(new URL(name, SHARED), 'utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

function assertAllValid (items: unknown[], label: string): void {
  const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)
  const parsed = parseDocuments(text, label)
  assert.deepEqual(parsed.errors.map(e => e.describe()), [])
  assert.equal(parsed.documents.length, items.length)
  const failures = parsed.documents.flatMap(d => { const r = validateResource(d); return r.ok ? [] : r.errors.map(e => e.describe()) })
  assert.deepEqual(failures, [])
}

test('conformance: every k8s-netpol.json policy and the inventory run.mjs builds validate (also as staged)', () => {
  const v = readShared('k8s-netpol.json')
  assert.ok(v.scenarios.length > 0)
  for (const [i, s] of v.scenarios.entries()) {
    // As run.mjs k8sObjects() builds them.
    const items: unknown[] = []
    for (const [ns, n] of Object.entries<any>(v.model.namespaces)) { // eslint-disable-line @typescript-eslint/no-explicit-any
      items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ...n.labels, ...(s.namespace_labels_added?.[ns] ?? {}) } } })
    }
    for (const [key, p] of Object.entries<any>(v.model.pods)) { // eslint-disable-line @typescript-eslint/no-explicit-any
      const ports = (s.served_ports ?? []).map((sp: { name: string, port: number, protocol: string }) => ({ name: sp.name, containerPort: sp.port, protocol: sp.protocol }))
      items.push({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: p.name, namespace: p.ns, labels: { ...p.labels, ...(s.pod_labels_added?.[key] ?? {}) } },
        spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'agnhost', ports }] },
        status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] }
      })
    }
    const staged = s.policies.map((p: object) => ({ ...p, apiVersion: 'projectcalico.org/v3', kind: 'StagedKubernetesNetworkPolicy' }))
    assertAllValid([...items, ...s.policies, ...staged], `k8s-${i}.json`)
  }
})

test('conformance: every calico-tiers.json policy and the Tier/Namespace/Pod/ServiceAccount objects run.mjs builds validate', () => {
  const v = readShared('calico-tiers.json')
  assert.ok(v.scenarios.length > 0)
  for (const [i, s] of v.scenarios.entries()) {
    const items: unknown[] = []
    for (const t of s.tiers ?? []) items.push({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: t.name }, spec: { ...(t.order !== undefined ? { order: t.order } : {}), ...(t.defaultAction ? { defaultAction: t.defaultAction } : {}) } })
    for (const [ns, n] of Object.entries<any>(s.namespaces ?? {})) items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: n.labels ?? {} } }) // eslint-disable-line @typescript-eslint/no-explicit-any
    let nextIp = 1
    for (const e of s.endpoints) {
      const ip = e.ip ?? `10.250.${Math.floor(nextIp / 250)}.${nextIp++ % 250 + 1}`
      if (e.serviceAccount) items.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: e.serviceAccount.name, namespace: e.namespace, labels: e.serviceAccount.labels ?? {} } })
      items.push({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: e.name, namespace: e.namespace, labels: e.labels ?? {} },
        spec: { nodeName: e.host ?? 'node-1', serviceAccountName: e.serviceAccount?.name ?? 'default', containers: [{ name: 'c', image: 'app' }] },
        status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] }
      })
    }
    assertAllValid([...items, ...s.policies], `tiers-${i}.json`)
  }
})
