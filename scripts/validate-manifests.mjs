#!/usr/bin/env node
// `npm run test:manifests`: renders every Kustomize entry point under deploy/ with `kubectl kustomize` (offline)
// and validates each rendered object by library, not by eye:
// - Kubernetes kinds against the OpenAPI schemas of kubernetes-models (its generated ajv validators);
// - CRDs as apiextensions.k8s.io/v1 objects, then their own openAPIV3Schema (compiled with ajv, with unknown
//   fields rejected as `kubectl apply`'s strict field validation does) against examples/shop/staged.yaml;
// - cert-manager.io/v1 objects, for which no npm package ships schemas, against the minimal schema below;
// - cross-references: ConfigMaps, Secrets and ServiceAccounts a pod template names exist (Secrets: in the
//   rendering or documented as made by hand), and the agent's ClusterRole grants get/list/watch on exactly the
//   resources agent/src/k8s/kube-resources.ts watches.
/* global structuredClone */
// Each check fails on purpose once (a broken copy) so that the validators are known to bite. Prints
// "N passed, N failed" and exits non-zero on any failure.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parseAllDocuments } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ENTRY_POINTS = ['deploy/base', 'deploy/overlays/example', 'deploy/overlays/ebpf']
// Secrets the base mounts without creating them: made by hand (deploy/README.md) or by components/cert-manager.
const EXTERNAL_SECRETS = new Set(['shadowflow-agent-tls', 'shadowflow-aggregator-tls'])

let passed = 0
let failed = 0
function check (name, fn) {
  try {
    fn()
    passed++
    process.stdout.write(`ok - ${name}\n`)
  } catch (error) {
    failed++
    process.stdout.write(`not ok - ${name}\n  ${String(error.message).split('\n').join('\n  ')}\n`)
  }
}

function render (dir) {
  const text = execFileSync('kubectl', ['kustomize', join(root, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return parseAllDocuments(text).map(d => d.toJS()).filter(d => d !== null)
}

// apiVersion → the kubernetes-models module directory.
function modelPath (apiVersion, kind) {
  return `kubernetes-models/${apiVersion}/${kind}`
}

async function kubernetesModel (apiVersion, kind) {
  try {
    const mod = await import(modelPath(apiVersion, kind))
    return mod[kind]
  } catch {
    return undefined
  }
}

// --- cert-manager.io/v1 (only the fields the component uses; unknown fields rejected) ------------------------
const ref = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' }, kind: { enum: ['Issuer', 'ClusterIssuer'] }, group: { type: 'string' } } }
const meta = { type: 'object', required: ['name'], properties: { name: { type: 'string' }, namespace: { type: 'string' }, labels: { type: 'object' }, annotations: { type: 'object' } } }
const CERT_MANAGER = {
  Issuer: {
    type: 'object', additionalProperties: false, required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'cert-manager.io/v1' }, kind: { const: 'Issuer' }, metadata: meta,
      spec: { type: 'object', additionalProperties: false, minProperties: 1, maxProperties: 1, properties: { selfSigned: { type: 'object' }, ca: { type: 'object', additionalProperties: false, required: ['secretName'], properties: { secretName: { type: 'string' } } } } }
    }
  },
  Certificate: {
    type: 'object', additionalProperties: false, required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'cert-manager.io/v1' }, kind: { const: 'Certificate' }, metadata: meta,
      spec: {
        type: 'object', additionalProperties: false, required: ['secretName', 'issuerRef'],
        properties: {
          secretName: { type: 'string' }, isCA: { type: 'boolean' }, commonName: { type: 'string' },
          duration: { type: 'string', pattern: '^[0-9]+h$' }, renewBefore: { type: 'string', pattern: '^[0-9]+h$' },
          dnsNames: { type: 'array', items: { type: 'string' } }, ipAddresses: { type: 'array', items: { type: 'string' } },
          usages: { type: 'array', items: { enum: ['server auth', 'client auth', 'digital signature', 'key encipherment', 'cert sign'] } },
          privateKey: { type: 'object', additionalProperties: false, properties: { algorithm: { enum: ['RSA', 'ECDSA', 'Ed25519'] }, size: { type: 'integer' } } },
          issuerRef: ref
        }
      }
    }
  }
}

const ajv = new Ajv({ allErrors: true, strict: false, logger: false })
for (const k of ['x-kubernetes-int-or-string', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-embedded-resource']) ajv.addKeyword(k)
const certManagerValidators = Object.fromEntries(Object.entries(CERT_MANAGER).map(([k, s]) => [k, ajv.compile(s)]))

// Structural schema → a strict JSON Schema: the API server prunes unknown fields and kubectl's default
// --validate=strict turns them into errors, so unknown fields are errors here too.
function strict (schema) {
  if (schema === null || typeof schema !== 'object') return schema
  if (Array.isArray(schema)) return schema.map(strict)
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)])) : strict(v)]))
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false
  }
  return out
}

function errorsText (errors) {
  return (errors ?? []).map(e => `${e.instancePath || '/'} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`).join('; ')
}

async function validateObject (obj) {
  const where = `${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`
  if (obj.apiVersion === 'cert-manager.io/v1') {
    const v = certManagerValidators[obj.kind]
    if (v === undefined) throw new Error(`${where}: no schema for cert-manager.io/v1 ${obj.kind}`)
    if (!v(obj)) throw new Error(`${where}: ${errorsText(v.errors)}`)
    return
  }
  const Model = await kubernetesModel(obj.apiVersion, obj.kind)
  if (Model === undefined) throw new Error(`${where}: no OpenAPI schema for ${obj.apiVersion} ${obj.kind}`)
  try {
    new Model(obj).validate()
  } catch (error) {
    throw new Error(`${where}: ${error.message}`)
  }
}

function podTemplates (objects) {
  return objects.filter(o => ['DaemonSet', 'Deployment'].includes(o.kind)).map(o => ({ owner: `${o.kind} ${o.metadata.name}`, spec: o.spec.template.spec }))
}

function checkReferences (objects, dir) {
  const names = kind => new Set(objects.filter(o => o.kind === kind).map(o => o.metadata.name))
  const configMaps = names('ConfigMap')
  const serviceAccounts = names('ServiceAccount')
  const secretsMade = new Set([...names('Secret'), ...objects.filter(o => o.kind === 'Certificate').map(o => o.spec.secretName)])
  const problems = []
  for (const { owner, spec } of podTemplates(objects)) {
    if (!serviceAccounts.has(spec.serviceAccountName)) problems.push(`${owner}: ServiceAccount ${spec.serviceAccountName} is not rendered`)
    for (const v of spec.volumes ?? []) {
      if (v.configMap !== undefined && !configMaps.has(v.configMap.name)) problems.push(`${owner}: ConfigMap ${v.configMap.name} is not rendered`)
      if (v.secret !== undefined && !secretsMade.has(v.secret.secretName) && !EXTERNAL_SECRETS.has(v.secret.secretName)) problems.push(`${owner}: Secret ${v.secret.secretName} is neither rendered nor documented`)
    }
    for (const c of spec.containers) {
      for (const m of c.volumeMounts ?? []) if (!(spec.volumes ?? []).some(v => v.name === m.name)) problems.push(`${owner}: mount ${m.name} has no volume`)
    }
  }
  if (dir.includes('overlays/example')) {
    for (const s of EXTERNAL_SECRETS) if (!secretsMade.has(s)) problems.push(`Secret ${s} is not made by the overlay (cert-manager component)`)
  }
  if (problems.length > 0) throw new Error(problems.join('\n'))
}

async function checkRbac (objects) {
  const { KUBERNETES_RESOURCES, CALICO_KINDS, CALICO_V3, CALICO_CRD } = await import(join(root, 'dist/agent/src/k8s/kube-resources.js'))
  const wanted = new Set([
    ...KUBERNETES_RESOURCES.map(r => `${r.group}/${r.plural}`),
    ...CALICO_KINDS.flatMap(k => [`${CALICO_V3.group}/${k.plural}`, `${CALICO_CRD.group}/${k.plural}`])
  ])
  const role = objects.find(o => o.kind === 'ClusterRole' && o.metadata.name === 'shadowflow-agent')
  if (role === undefined) throw new Error('ClusterRole shadowflow-agent is not rendered')
  const granted = new Set()
  for (const rule of role.rules) {
    const verbs = [...rule.verbs].sort().join(',')
    if (verbs !== 'get,list,watch') throw new Error(`rule ${JSON.stringify(rule)} grants ${verbs}, not exactly get, list, watch`)
    if ((rule.resourceNames ?? []).length > 0 || (rule.nonResourceURLs ?? []).length > 0) throw new Error('unexpected resourceNames/nonResourceURLs')
    for (const g of rule.apiGroups) for (const r of rule.resources) granted.add(`${g}/${r}`)
  }
  const missing = [...wanted].filter(x => !granted.has(x))
  const extra = [...granted].filter(x => !wanted.has(x))
  if (missing.length > 0 || extra.length > 0) throw new Error(`ClusterRole differs from what the agent watches: missing ${missing.join(', ') || 'none'}; extra ${extra.join(', ') || 'none'}`)
}

function crdValidators (objects) {
  const out = new Map()
  for (const crd of objects.filter(o => o.kind === 'CustomResourceDefinition')) {
    for (const version of crd.spec.versions) {
      out.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, { scope: crd.spec.scope, validate: ajv.compile(strict(version.schema.openAPIV3Schema)) })
    }
  }
  return out
}

function checkStagedExamples (validators, documents) {
  const problems = []
  let validated = 0
  for (const doc of documents) {
    const v = validators.get(`${doc.apiVersion} ${doc.kind}`)
    if (v === undefined) continue
    validated++
    if (!v.validate(doc)) problems.push(`${doc.kind} ${doc.metadata.name}: ${errorsText(v.validate.errors)}`)
    if ((v.scope === 'Namespaced') !== (doc.metadata.namespace !== undefined)) problems.push(`${doc.kind} ${doc.metadata.name}: scope is ${v.scope}`)
  }
  if (validated === 0) throw new Error('no document was validated against a CRD')
  if (problems.length > 0) throw new Error(problems.join('\n'))
  return validated
}

function expectFailure (name, fn) {
  check(`validator bites: ${name}`, () => {
    let threw = false
    try { fn() } catch { threw = true }
    if (!threw) throw new Error('a broken object passed validation')
  })
}

for (const dir of ENTRY_POINTS) {
  let objects = []
  check(`${dir}: kubectl kustomize renders`, () => { objects = render(dir) })
  for (const obj of objects) {
    const name = `${dir}: ${obj.apiVersion} ${obj.kind} ${obj.metadata?.name} matches its schema`
    try {
      await validateObject(obj)
      check(name, () => {})
    } catch (error) {
      check(name, () => { throw error })
    }
  }
  check(`${dir}: references resolve (ConfigMaps, Secrets, ServiceAccounts, volumes)`, () => { checkReferences(objects, dir) })
  try {
    await checkRbac(objects)
    check(`${dir}: the agent's ClusterRole is exactly get/list/watch on what it watches`, () => {})
  } catch (error) {
    check(`${dir}: the agent's ClusterRole is exactly get/list/watch on what it watches`, () => { throw error })
  }
  if (objects.some(o => o.kind === 'CustomResourceDefinition')) {
    const validators = crdValidators(objects)
    const staged = parseAllDocuments(readFileSync(join(root, 'examples/shop/staged.yaml'), 'utf8')).map(d => d.toJS()).filter(d => d !== null)
    check(`${dir}: examples/shop/staged.yaml validates against the CRDs' openAPIV3Schema`, () => { checkStagedExamples(validators, staged) })
    const broken = structuredClone(staged.find(d => d.kind === 'StagedNetworkPolicy'))
    broken.spec.ingress[0].acton = 'Allow'
    expectFailure('a staged policy with a misspelled field', () => { checkStagedExamples(validators, [broken]) })
  }
}

// The schema validators must reject what the API server would.
const ds = render('deploy/base').find(o => o.kind === 'DaemonSet')
const Model = await kubernetesModel('apps/v1', 'DaemonSet')
const broken = structuredClone(ds)
broken.spec.template.spec.containers[0].ports[0].containerPort = 'node-query'
expectFailure('a DaemonSet with a non-numeric containerPort', () => { new Model(broken).validate() })
const noSelector = structuredClone(ds)
delete noSelector.spec.selector
expectFailure('a DaemonSet without a selector', () => { new Model(noSelector).validate() })
const badCert = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'x' }, spec: { secretName: 'x', issuerRef: { name: 'y' }, dnsName: ['typo'] } }
expectFailure('a Certificate with a misspelled field', () => { if (!certManagerValidators.Certificate(badCert)) throw new Error('invalid') })

process.stdout.write(`${passed} passed, ${failed} failed\n`)
process.exitCode = failed === 0 ? 0 : 1
