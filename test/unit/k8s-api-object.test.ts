// Objects from the API → validated resources: list items get apiVersion/kind from the resource, Calico's CRD
// objects become projectcalico.org/v3 (labels from Calico's metadata annotation), caches keep only what is read,
// and invalid objects fail with the validator's field path.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { shapeApiObject, validateApiObject } from '../../agent/src/k8s/api-object.js'
import { CALICO_KINDS, KUBERNETES_RESOURCES, type KubeResource } from '../../agent/src/k8s/kube-resources.js'

const resource = (kind: string, group?: string): KubeResource => {
  const k8s = KUBERNETES_RESOURCES.find(r => r.kind === kind && (group === undefined || r.group === group))
  if (k8s !== undefined) return k8s
  const calico = CALICO_KINDS.find(k => k.kind === kind)
  assert.ok(calico !== undefined)
  return { ...calico, group: group ?? 'projectcalico.org', version: group === 'crd.projectcalico.org' ? 'v1' : 'v3' }
}

test('a list item without apiVersion/kind is typed by its resource; pods keep only what the index reads', () => {
  const shaped = shapeApiObject({
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' }, managedFields: [{}], annotations: { a: 'b' }, resourceVersion: '7' },
    spec: { nodeName: 'n1', volumes: [{ name: 'v' }], containers: [{ name: 'c', image: 'i', env: [{ name: 'X' }], ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{}] }
  }, resource('Pod'))
  assert.deepEqual(shaped, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' }, resourceVersion: '7' },
    spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { phase: 'Running', podIP: '10.0.0.1' }
  })
  const result = validateApiObject(shaped, 'kubernetes pods shop/web-1')
  assert.equal(result.ok, true)
})

test('a crd.projectcalico.org/v1 object becomes the projectcalico.org/v3 object it stores', () => {
  const shaped = shapeApiObject({
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'default.deny', labels: { crd: 'label' }, annotations: { 'projectcalico.org/metadata': '{"labels":{"team":"net"},"annotations":{"x":"y"}}' } },
    spec: { tier: 'default', selector: 'all()', types: ['Ingress'] }
  }, resource('GlobalNetworkPolicy', 'crd.projectcalico.org'))
  assert.equal(shaped.apiVersion, 'projectcalico.org/v3')
  assert.deepEqual((shaped.metadata as Record<string, unknown>).labels, { team: 'net' })
  const result = validateApiObject(shaped, 'x')
  assert.ok(result.ok)
  assert.equal(result.resource.kind, 'GlobalNetworkPolicy')
})

test('a damaged metadata annotation keeps the CRD\'s own labels', () => {
  const shaped = shapeApiObject({ metadata: { name: 'n', labels: { own: 'x' }, annotations: { 'projectcalico.org/metadata': '{oops' } }, spec: { nets: ['10.0.0.0/8'] } }, resource('GlobalNetworkSet', 'crd.projectcalico.org'))
  assert.deepEqual((shaped.metadata as Record<string, unknown>).labels, { own: 'x' })
})

test('an invalid object fails with the field path and the validator\'s message', () => {
  const shaped = shapeApiObject({ metadata: { name: 'bad', namespace: 'db' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] } }, resource('NetworkPolicy', 'networking.k8s.io'))
  const result = validateApiObject(shaped, 'kubernetes networkpolicies.networking.k8s.io db/bad')
  assert.equal(result.ok, false)
  assert.ok(!result.ok)
  assert.equal(result.errors[0]?.location.field, 'spec.ingress[0].ports[0].port')
  assert.equal(result.errors[0]?.location.file, 'kubernetes networkpolicies.networking.k8s.io db/bad')
})
