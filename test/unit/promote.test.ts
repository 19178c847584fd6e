// Promotion of staged policies: each staged kind becomes its enforced counterpart with the same identity and
// spec, Delete becomes a kubectl delete line, server-populated metadata is dropped, and the rendered YAML is
// something shadowflow (and so kubectl) reads back as valid enforced policies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import {
  LAST_APPLIED_ANNOTATION, deleteTargetFor, isStagedPolicy, promoteAll, promoteStagedPolicy, renderDeleteCommands,
  renderPromotedJson, renderPromotedYaml, type Promotion, type StagedPolicy
} from '../../agent/src/policy/promote.js'
import type {
  Resource, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy, StagedNetworkPolicy
} from '../../agent/src/policy/resources.js'
import { readResourceFiles } from '../../agent/src/io/read-resource-files.js'

/** The repository root, whether the test runs from test/unit or from dist/test/unit. */
function repoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'examples'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('repository root not found')
    dir = up
  }
  return dir
}

const calicoRule = {
  action: 'Allow' as const,
  protocol: 'TCP',
  source: { selector: "role == 'frontend'" },
  destination: { ports: [6379] }
}

function stagedNetworkPolicy (spec: Partial<StagedNetworkPolicy['spec']> = {}): StagedNetworkPolicy {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'StagedNetworkPolicy',
    metadata: { name: 'default.allow-tcp-6379', namespace: 'database', labels: { owner: 'team-data' } },
    spec: { tier: 'default', selector: "role == 'database'", types: ['Ingress', 'Egress'], ingress: [calicoRule], egress: [{ action: 'Allow' }], ...spec }
  }
}

function stagedGlobalNetworkPolicy (spec: Partial<StagedGlobalNetworkPolicy['spec']> = {}): StagedGlobalNetworkPolicy {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'StagedGlobalNetworkPolicy',
    metadata: { name: 'default.allow-tcp-6379' },
    spec: { tier: 'default', selector: "role == 'database'", namespaceSelector: "team == 'data'", types: ['Ingress'], ingress: [calicoRule], ...spec }
  }
}

function stagedKubernetesNetworkPolicy (spec: Partial<StagedKubernetesNetworkPolicy['spec']> = {}): StagedKubernetesNetworkPolicy {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'StagedKubernetesNetworkPolicy',
    metadata: { name: 'test-network-policy', namespace: 'database' },
    spec: {
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } }], ports: [{ protocol: 'TCP', port: 6379 }] }],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
      ...spec
    }
  }
}

function applied (promotion: Promotion): Resource {
  assert.equal(promotion.action, 'apply')
  return promotion.resource
}

test('StagedNetworkPolicy becomes a projectcalico.org/v3 NetworkPolicy with the same identity and spec', () => {
  const staged = stagedNetworkPolicy({ stagedAction: 'Set', order: 10 })
  const { stagedAction: _set, ...expectedSpec } = staged.spec
  assert.deepEqual(applied(promoteStagedPolicy(staged)), {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: 'default.allow-tcp-6379', namespace: 'database', labels: { owner: 'team-data' } },
    spec: expectedSpec
  })
})

test('StagedGlobalNetworkPolicy becomes a GlobalNetworkPolicy, keeping namespaceSelector and tier', () => {
  const staged = stagedGlobalNetworkPolicy()
  assert.deepEqual(applied(promoteStagedPolicy(staged)), {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'default.allow-tcp-6379' },
    spec: staged.spec
  })
})

test('StagedKubernetesNetworkPolicy becomes a networking.k8s.io/v1 NetworkPolicy, not a Calico one', () => {
  const staged = stagedKubernetesNetworkPolicy({ stagedAction: 'Set' })
  const { stagedAction: _set, ...expectedSpec } = staged.spec
  assert.deepEqual(applied(promoteStagedPolicy(staged)), {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'test-network-policy', namespace: 'database' },
    spec: expectedSpec
  })
})

test('stagedAction: Delete becomes a kubectl delete line with the group-qualified resource name', () => {
  const cases: Array<{ staged: StagedPolicy, command: string }> = [
    { staged: stagedNetworkPolicy({ stagedAction: 'Delete' }), command: 'kubectl delete networkpolicies.projectcalico.org default.allow-tcp-6379 -n database' },
    { staged: stagedGlobalNetworkPolicy({ stagedAction: 'Delete' }), command: 'kubectl delete globalnetworkpolicies.projectcalico.org default.allow-tcp-6379' },
    { staged: stagedKubernetesNetworkPolicy({ stagedAction: 'Delete' }), command: 'kubectl delete networkpolicies.networking.k8s.io test-network-policy -n database' }
  ]
  for (const { staged, command } of cases) {
    const promotion = promoteStagedPolicy(staged)
    assert.equal(promotion.action, 'delete', staged.kind)
    assert.equal(promotion.target.command, command)
  }
  // A namespaced policy without a namespace is deleted in kubectl's current namespace: no -n.
  const noNamespace = stagedNetworkPolicy({ stagedAction: 'Delete' })
  delete noNamespace.metadata.namespace
  assert.equal(deleteTargetFor(noNamespace).command, 'kubectl delete networkpolicies.projectcalico.org default.allow-tcp-6379')
  // Names that are not plain shell words are quoted.
  const odd = stagedNetworkPolicy({ stagedAction: 'Delete' })
  odd.metadata.name = "it's odd"
  assert.equal(deleteTargetFor(odd).command, "kubectl delete networkpolicies.projectcalico.org 'it'\\''s odd' -n database")
})

test('server-populated metadata and the last-applied annotation are dropped; labels and annotations kept', () => {
  const staged = stagedNetworkPolicy()
  staged.metadata = {
    name: 'default.allow-tcp-6379',
    namespace: 'database',
    labels: { owner: 'team-data' },
    annotations: { [LAST_APPLIED_ANNOTATION]: '{"kind":"StagedNetworkPolicy"}', 'shop.example/ticket': 'OPS-1' },
    uid: '4c7e2f0a-1111-2222-3333-444455556666',
    resourceVersion: '123456',
    creationTimestamp: '2025-01-01T00:00:00Z',
    generation: 3,
    managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update' }],
    selfLink: '/apis/projectcalico.org/v3/namespaces/database/stagednetworkpolicies/default.allow-tcp-6379'
  }
  assert.deepEqual(applied(promoteStagedPolicy(staged)).metadata, {
    name: 'default.allow-tcp-6379',
    namespace: 'database',
    labels: { owner: 'team-data' },
    annotations: { 'shop.example/ticket': 'OPS-1' }
  })
  // Only the last-applied annotation: no empty annotations map is left behind.
  staged.metadata.annotations = { [LAST_APPLIED_ANNOTATION]: '{}' }
  assert.equal('annotations' in applied(promoteStagedPolicy(staged)).metadata, false)
})

test('the promoted spec is a copy: changing it leaves the staged policy untouched', () => {
  const staged = stagedNetworkPolicy({ stagedAction: 'Set' })
  const before = structuredClone(staged)
  const resource = applied(promoteStagedPolicy(staged))
  assert.ok(resource.kind === 'NetworkPolicy' && resource.apiVersion === 'projectcalico.org/v3')
  resource.spec.ingress?.push({ action: 'Deny' })
  resource.metadata.labels = { changed: 'yes' }
  assert.deepEqual(staged, before)
})

test('promoteAll promotes staged policies in input order and returns everything else as skipped', () => {
  const namespace: Resource = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'database' } }
  const enforced: Resource = { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'database' }, spec: {} }
  const items = [
    { resource: stagedKubernetesNetworkPolicy(), at: 1 },
    { resource: namespace, at: 2 },
    { resource: stagedNetworkPolicy({ stagedAction: 'Delete' }), at: 3 },
    { resource: enforced, at: 4 },
    { resource: stagedGlobalNetworkPolicy(), at: 5 }
  ]
  const { promotions, skipped } = promoteAll(items, i => i.resource)
  assert.deepEqual(promotions.map(p => [p.source.at, p.action]), [[1, 'apply'], [3, 'delete'], [5, 'apply']])
  assert.deepEqual(skipped.map(s => s.at), [2, 4])
  assert.equal(isStagedPolicy(enforced), false)
  assert.throws(() => promoteStagedPolicy(enforced as unknown as StagedPolicy), /NetworkPolicy is not a staged policy/)
})

test('renderPromotedYaml: one document per applied policy, keys in kubectl order, round-trips through yaml', () => {
  const promotions = [stagedNetworkPolicy(), stagedNetworkPolicy({ stagedAction: 'Delete' }), stagedGlobalNetworkPolicy(), stagedKubernetesNetworkPolicy()]
    .map(promoteStagedPolicy)
  const text = renderPromotedYaml(promotions)
  const documents = parseAllDocuments(text)
  assert.equal(documents.length, 3, 'the Delete promotion is not a document')
  for (const doc of documents) assert.deepEqual(doc.errors, [])
  const values = documents.map(d => d.toJS() as Record<string, unknown>)
  assert.deepEqual(values, promotions.flatMap(p => p.action === 'apply' ? [p.resource] : []))
  for (const value of values) assert.deepEqual(Object.keys(value), ['apiVersion', 'kind', 'metadata', 'spec'])
  assert.doesNotMatch(text, /stagedAction|kubectl/)
  assert.equal(renderDeleteCommands(promotions).length, 1)
  assert.equal(renderPromotedYaml([]), '')
})

test('renderPromotedYaml quotes YAML 1.1 booleans (kubectl parses YAML 1.1) and never folds long selectors', () => {
  const longSelector = `role == 'database' && ${Array.from({ length: 12 }, (_, i) => `label${i} != 'value${i}'`).join(' && ')}`
  const staged = stagedNetworkPolicy({ selector: longSelector })
  staged.metadata.labels = { enabled: 'yes', legacy: 'on', count: '012' }
  const text = renderPromotedYaml([promoteStagedPolicy(staged)])
  assert.match(text, /enabled: "yes"/)
  assert.match(text, /legacy: "on"/)
  assert.ok(text.split('\n').some(line => line === `  selector: ${longSelector}`), 'the selector stays on one line')
  assert.deepEqual(parse(text).metadata.labels, { enabled: 'yes', legacy: 'on', count: '012' })
})

test('renderPromotedJson: a v1 List of the applied resources', () => {
  const promotions = [stagedGlobalNetworkPolicy(), stagedKubernetesNetworkPolicy({ stagedAction: 'Delete' })].map(promoteStagedPolicy)
  const list = JSON.parse(renderPromotedJson(promotions)) as { apiVersion: string, kind: string, items: Array<{ kind: string }> }
  assert.equal(list.apiVersion, 'v1')
  assert.equal(list.kind, 'List')
  assert.deepEqual(list.items.map(i => i.kind), ['GlobalNetworkPolicy'])
})

test('promoting the shop example yields YAML that loads back as valid enforced policies', async () => {
  const staged = join(repoRoot(), 'examples', 'shop', 'staged.yaml')
  const input = await readResourceFiles([staged])
  assert.deepEqual(input.errors.map(e => e.describe()), [])
  const { promotions, skipped } = promoteAll(input.resources, r => r.resource)
  assert.equal(skipped.length, 0)
  assert.deepEqual(renderDeleteCommands(promotions), ['kubectl delete networkpolicies.projectcalico.org default.allow-toolbox-debug -n database'])

  const dir = mkdtempSync(join(tmpdir(), 'shadowflow-promote-'))
  try {
    const file = join(dir, 'promoted.yaml')
    writeFileSync(file, renderPromotedYaml(promotions))
    const output = await readResourceFiles([file])
    assert.deepEqual(output.errors.map(e => e.describe()), [])
    assert.deepEqual(output.resources.map(r => `${r.resource.apiVersion} ${r.resource.kind} ${r.resource.metadata.namespace ?? '-'}/${r.resource.metadata.name}`), [
      'projectcalico.org/v3 GlobalNetworkPolicy -/default.allow-tcp-6379',
      'projectcalico.org/v3 NetworkPolicy database/default.allow-tcp-6379',
      'networking.k8s.io/v1 NetworkPolicy database/test-network-policy'
    ])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
