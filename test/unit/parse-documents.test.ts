// parseDocuments: documents, lists and line lookup, and the file-level errors a new user meets first.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ResourceFileError } from '../../agent/src/errors.js'
import { formatFieldPath, parseDocuments } from '../../agent/src/policy/parse-documents.js'

const MULTI = `# two policies
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: a
spec:
  ingress:
    - action: Allow
      destination:
        ports: [80, 443]
---
# nothing here
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
`

test('multi-document YAML: empty documents skipped, each document knows its lines', () => {
  const { documents, errors } = parseDocuments(MULTI, 'p.yaml')
  assert.deepEqual(errors, [])
  assert.equal(documents.length, 2)
  const [np, ns] = documents as [typeof documents[0], typeof documents[0]]
  assert.equal(np.line, 3)
  assert.equal(np.file, 'p.yaml')
  assert.equal(np.lineOf(['metadata', 'name']), 6)
  assert.equal(np.lineOf(['spec', 'ingress']), 8)
  assert.equal(np.lineOf(['spec', 'ingress', 0]), 9)
  assert.equal(np.lineOf(['spec', 'ingress', 0, 'destination', 'ports', 1]), 11)
  // A field that is not there resolves to its deepest present ancestor.
  assert.equal(np.lineOf(['spec', 'ingress', 0, 'source', 'nets']), 9)
  assert.equal(ns.line, 15)
  assert.deepEqual(ns.value, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } })
})

test('kind: List (any apiVersion) is unpacked; items keep their own lines', () => {
  const text = `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: x
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: y
`
  const { documents, errors } = parseDocuments(text, 'l.yaml')
  assert.deepEqual(errors, [])
  assert.deepEqual(documents.map(d => [d.line, d.lineOf(['metadata', 'name'])]), [[5, 8], [9, 12]])
})

test('a typed list as calicoctl prints it lends apiVersion and kind to items that lack them', () => {
  const text = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicyList', items: [{ metadata: { name: 'a' } }] }, null, 1)
  const { documents } = parseDocuments(text, 'l.json')
  assert.deepEqual(documents.map(d => d.value), [{ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'a' } }])
  assert.equal(documents[0]?.lineOf(['metadata', 'name']), 7)
})

test('an explicitly empty List is not an error: it is what `kubectl get` prints when nothing matched', () => {
  assert.deepEqual(parseDocuments('apiVersion: v1\nkind: List\nitems: []\n', 'e.yaml'), { documents: [], errors: [] })
})

test('JSON documents are read with lines', () => {
  const text = '{\n  "apiVersion": "v1",\n  "kind": "Namespace",\n  "metadata": {\n    "name": "x"\n  }\n}\n'
  const { documents, errors } = parseDocuments(text, 'n.json')
  assert.deepEqual(errors, [])
  assert.equal(documents[0]?.lineOf(['metadata', 'name']), 5)
})

const FILE_ERRORS: Array<{ name: string, input: string | Uint8Array, file: string, expect: string }> = [
  { name: 'empty file', input: '', file: 'empty.yaml', expect: 'empty.yaml: no resources in file' },
  { name: 'only comments and separators', input: '# nothing\n---\n---\n', file: 'c.yaml', expect: 'c.yaml: no resources in file' },
  { name: 'binary (NUL bytes)', input: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x00, 0x01]), file: 'a.out', expect: 'a.out: not a text file (it contains NUL bytes); expected YAML or JSON' },
  { name: 'invalid UTF-8', input: new Uint8Array([0x6b, 0x69, 0x6e, 0x64, 0x3a, 0x20, 0xc3, 0x28]), file: 'latin.yaml', expect: 'latin.yaml: not a text file (it is not valid UTF-8); expected YAML or JSON' },
  { name: 'UTF-16 (PowerShell redirect)', input: new Uint8Array([0xff, 0xfe, 0x6b, 0x00]), file: 'ps.yaml', expect: 'ps.yaml: the file is UTF-16 encoded; save it as UTF-8' },
  { name: 'YAML: bad indentation', input: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n labels: {}\n', file: 'i.yaml', expect: 'i.yaml:5: YAML syntax error at column 1: All mapping items must start at the same column' },
  { name: 'YAML: compact nested mapping', input: 'apiVersion: v1\nkind: Pod\nmetadata: name: x\n', file: 'n.yaml', expect: 'n.yaml:3: YAML syntax error at column 11: Nested mappings are not allowed in compact mappings' },
  { name: 'YAML: duplicate key', input: 'apiVersion: v1\nkind: Namespace\nkind: Pod\n', file: 'd.yaml', expect: 'd.yaml:3: YAML syntax error at column 1: Map keys must be unique' },
  { name: 'JSON: missing comma', input: '{\n  "apiVersion": "v1"\n  "kind": "Namespace"\n}\n', file: 'm.json', expect: 'm.json:3: JSON syntax error at column 3: Expected \',\' or \'}\' after property value' },
  { name: 'JSON: unterminated', input: '{\n  "apiVersion": "v1",\n  "kind": "Namespace",\n', file: 'u.json', expect: 'u.json:4: JSON syntax error at column 1: Expected double-quoted property name' }
]

for (const c of FILE_ERRORS) {
  test(`file error: ${c.name}`, () => {
    const { documents, errors } = parseDocuments(c.input, c.file)
    assert.equal(documents.length, 0)
    assert.equal(errors.length, 1, errors.map(e => e.describe()).join('\n'))
    assert.ok(errors[0] instanceof ResourceFileError)
    assert.equal(errors[0].describe(), c.expect)
  })
}

test('a syntax error in one document does not hide the documents around it', () => {
  const text = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n'
  const { documents, errors } = parseDocuments(text, 's.yaml')
  assert.deepEqual(documents.map(d => (d.value as { metadata: { name: string } }).metadata.name), ['a', 'b'])
  assert.equal(errors.length, 1)
  assert.equal(errors[0]?.location.line, 6)
})

test('a UTF-8 byte-order mark is dropped', () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('apiVersion: v1\nkind: Namespace\n')])
  const { documents } = parseDocuments(bytes, 'bom.yaml')
  assert.deepEqual(documents[0]?.value, { apiVersion: 'v1', kind: 'Namespace' })
})

test('alias bombs are refused with an error, not expanded', () => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`)
  const { documents, errors } = parseDocuments(lines.join('\n'), 'bomb.yaml')
  assert.equal(documents.length, 0)
  assert.equal(errors.length, 1)
  assert.match(errors[0]?.message ?? '', /cannot expand the document/)
})

test('formatFieldPath quotes keys that are not identifiers', () => {
  assert.equal(formatFieldPath(['spec', 'ingress', 0, 'destination', 'ports', 1]), 'spec.ingress[0].destination.ports[1]')
  assert.equal(formatFieldPath(['metadata', 'labels', 'app.kubernetes.io/name']), 'metadata.labels["app.kubernetes.io/name"]')
})
