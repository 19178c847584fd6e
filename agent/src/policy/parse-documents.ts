// Text of one resource file → the documents in it, each able to say on which line any of its fields is. Files are
// what `kubectl get -o yaml` prints and `kubectl apply -f` takes: multi-document YAML, JSON, `kind: List` and the
// typed lists calicoctl prints (`kind: NetworkPolicyList`). Pure: the caller reads the bytes.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml'
import { ResourceFileError, ResourceInvalidError, type ShadowflowError } from '../errors.js'

/** A path to a field inside a document: keys and list indices, e.g. `['spec', 'ingress', 0, 'action']`. */
export type FieldPath = ReadonlyArray<string | number>

/** One resource document (or one item of a list) as plain data, with its origin. */
export interface ParsedDocument {
  /** File name as the user gave it. */
  readonly file: string
  /** 1-based line where the document (or list item) starts. */
  readonly line: number
  /** The document as plain JSON-like data. */
  readonly value: unknown
  /** 1-based line of the field at `path`, or of its deepest ancestor present in the document. */
  lineOf: (path: FieldPath) => number
}

/** Documents found in one file, and the problems that kept others from being read. */
export interface ParsedFile {
  documents: ParsedDocument[]
  errors: ShadowflowError[]
}

// Aliases are legal YAML but a handful of anchors can expand into gigabytes ("billion laughs"); Kubernetes
// manifests never need more than a few.
const MAX_ALIAS_COUNT = 100

/** Splits `input` (raw bytes or decoded text) from `file` into resource documents; never throws. */
export function parseDocuments (input: string | Uint8Array, file: string): ParsedFile {
  const decoded = typeof input === 'string' ? checkText(input, file) : decodeBytes(input, file)
  if (decoded instanceof ResourceFileError) return { documents: [], errors: [decoded] }
  const text = decoded

  // Decided on content, not on the file name: a .json file holding YAML is still read (kubectl reads it too).
  const looksLikeJson = /^\s*[{[]/.test(text)
  const lineCounter = new LineCounter()
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true })
  const yamlDocs: Document.Parsed[] = Array.isArray(parsed) ? parsed : []
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line

  if (looksLikeJson && yamlDocs.some(d => d.errors.length > 0)) {
    // YAML's messages speak of "flow collections"; a JSON author is better served by the JSON parser's own words.
    const jsonError = jsonSyntaxError(text, file)
    if (jsonError !== undefined) return { documents: [], errors: [jsonError] }
  }

  const documents: ParsedDocument[] = []
  const errors: ShadowflowError[] = []
  let sawContent = false
  for (const doc of yamlDocs) {
    const first = doc.errors[0]
    if (first !== undefined) {
      // Later errors of the same document are nearly always echoes of the first one.
      errors.push(yamlSyntaxError(first, file, looksLikeJson))
      sawContent = true
      continue
    }
    const root = doc.contents
    if (root === null || (isScalar(root) && root.value === null)) continue // `---` alone, or only comments
    sawContent = true
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
    } catch (cause) {
      errors.push(new ResourceFileError(`cannot expand the document: ${(cause as Error).message}`,
        { file, line: lineAt(root.range[0]) }, cause))
      continue
    }
    const locate = (path: FieldPath): number => lineOfPath(doc, root, path, lineAt)
    unpack(value, [], { file, locate }, documents, errors)
  }
  if (!sawContent) errors.push(new ResourceFileError('no resources in file', { file }))
  return { documents, errors }
}

interface Source {
  file: string
  locate: (path: FieldPath) => number
}

// `kind: List` (any apiVersion) holds whole resources; `kind: <Kind>List` as printed by calicoctl or the API may
// leave apiVersion/kind out of its items, so they are inherited. Lists inside lists are unpacked too.
function unpack (value: unknown, base: FieldPath, source: Source, out: ParsedDocument[], errors: ShadowflowError[]): void {
  const record = isRecord(value) ? value : undefined
  const kind = typeof record?.kind === 'string' ? record.kind : undefined
  const isList = kind !== undefined && kind.endsWith('List') && (kind === 'List' || 'items' in (record ?? {}))
  if (record === undefined || !isList) {
    out.push({ file: source.file, line: source.locate(base), value, lineOf: path => source.locate([...base, ...path]) })
    return
  }
  const items = record.items
  if (items === undefined || items === null) return // an empty list is what `kubectl get` prints when nothing matched
  if (!Array.isArray(items)) {
    const path = [...base, 'items']
    errors.push(new ResourceInvalidError(`expected a list of resources, got ${describeType(items)}`,
      { file: source.file, line: source.locate(path), field: formatFieldPath(path) }))
    return
  }
  const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length)
  items.forEach((item, index) => {
    const withType = itemKind !== undefined && isRecord(item)
      ? { apiVersion: record.apiVersion, kind: itemKind, ...item }
      : item
    unpack(withType, [...base, 'items', index], source, out, errors)
  })
}

function lineOfPath (doc: Document.Parsed, root: Node, path: FieldPath, lineAt: (offset: number) => number): number {
  let node: unknown = root
  let line = lineAt(root.range?.[0] ?? 0)
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc)
    if (isMap(node)) {
      const pair = node.items.find(p => keyText(p.key) === String(segment))
      if (pair === undefined) return line
      // The key's line, not the value's: a block value starts on the line after its key.
      const keyRange = (pair.key as Node | null)?.range
      if (keyRange !== undefined && keyRange !== null) line = lineAt(keyRange[0])
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined
      if (item === undefined) return line
      if (item.range !== undefined && item.range !== null) line = lineAt(item.range[0])
      node = item
    } else {
      return line
    }
    if (node === null || node === undefined) return line
  }
  return line
}

function keyText (key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value)
  return typeof key === 'string' ? key : undefined
}

function checkText (text: string, file: string): string | ResourceFileError {
  if (text.includes('\u0000')) return new ResourceFileError('not a text file (it contains NUL bytes); expected YAML or JSON', { file })
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

function decodeBytes (bytes: Uint8Array, file: string): string | ResourceFileError {
  // Windows PowerShell's `>` writes UTF-16 with a byte-order mark; say so instead of calling it binary.
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return new ResourceFileError('the file is UTF-16 encoded; save it as UTF-8', { file })
  }
  if (bytes.includes(0)) return new ResourceFileError('not a text file (it contains NUL bytes); expected YAML or JSON', { file })
  try {
    // The decoder drops a UTF-8 byte-order mark itself.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (cause) {
    return new ResourceFileError('not a text file (it is not valid UTF-8); expected YAML or JSON', { file }, cause)
  }
}

function yamlSyntaxError (error: { message: string, linePos?: [{ line: number, col: number }, ...unknown[]] }, file: string, json: boolean): ResourceFileError {
  const at = error.linePos?.[0]
  // yaml's message is "<what> at line L, column C:\n\n<excerpt>"; keep the what, the location goes in the fields.
  const what = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '')
  const column = at === undefined ? '' : ` at column ${at.col}`
  return new ResourceFileError(`${json ? 'JSON' : 'YAML'} syntax error${column}: ${what}`,
    { file, line: at?.line, column: at?.col }, error)
}

function jsonSyntaxError (text: string, file: string): ResourceFileError | undefined {
  try {
    JSON.parse(text)
    return undefined
  } catch (cause) {
    const message = (cause as Error).message
    const position = /at position (\d+)/.exec(message)
    const what = message.replace(/ in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '')
    if (position === null) return undefined // no position to give: let the YAML parser's located error speak
    const before = text.slice(0, Number(position[1]))
    const line = before.split('\n').length
    const column = before.length - before.lastIndexOf('\n')
    return new ResourceFileError(`JSON syntax error at column ${column}: ${what}`, { file, line, column }, cause)
  }
}

/** `['spec', 'ingress', 0, 'ports', 1]` → `spec.ingress[0].ports[1]`; keys that are not identifiers are quoted. */
export function formatFieldPath (path: FieldPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

/** A short English name of a value's type, for "expected …, got …" messages. */
export function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  switch (typeof value) {
    case 'string': return `a string (${JSON.stringify(value)})`
    case 'number': return `a number (${value})`
    case 'boolean': return `a boolean (${value})`
    case 'object': return 'a mapping'
    default: return typeof value
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
