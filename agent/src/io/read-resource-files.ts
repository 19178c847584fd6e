// The file-system side of loading resources: what `-f PATH` means (a file, a directory searched recursively, or
// `-` for standard input), reading bytes, and the checks that need every file at once (duplicate identities).
// Parsing and validation are pure and live in policy/.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ResourceFileError, ResourceInvalidError, type ShadowflowError } from '../errors.js'
import { parseDocuments, type ParsedDocument } from '../policy/parse-documents.js'
import type { LoadedResource, Resource } from '../policy/resources.js'
import { validateResource } from '../policy/validate-resource.js'

/** Resources read from the paths given, and every problem met on the way (reading, parsing, validating). */
export interface ReadResourceFilesResult {
  resources: LoadedResource[]
  errors: ShadowflowError[]
}

const RESOURCE_FILE = /\.(ya?ml|json)$/i
const STDIN = '-'

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a path component is not a directory',
  ELOOP: 'too many symbolic links',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files'
}

/** Reads, parses and validates every resource under `paths` (files, directories recursively, `-` for stdin). */
export async function readResourceFiles (paths: string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<ReadResourceFilesResult> {
  const errors: ShadowflowError[] = []
  const documents: ParsedDocument[] = []
  let stdinRead = false
  for (const path of paths) {
    if (path === STDIN) {
      if (stdinRead) {
        errors.push(new ResourceFileError('standard input was given more than once', { file: STDIN }))
        continue
      }
      stdinRead = true
      const bytes = await readStream(stdin).catch((cause: unknown) => {
        errors.push(new ResourceFileError(`cannot read standard input: ${(cause as Error).message}`, { file: STDIN }, cause))
        return undefined
      })
      if (bytes !== undefined) collect(parseDocuments(bytes, STDIN), documents, errors)
      continue
    }
    for (const file of await expandPath(path, errors)) {
      const bytes = await readFile(file).catch((cause: unknown) => { errors.push(readError(file, cause)); return undefined })
      if (bytes !== undefined) collect(parseDocuments(bytes, file), documents, errors)
    }
  }

  const resources: LoadedResource[] = []
  const seen = new Map<string, { loaded: LoadedResource, document: ParsedDocument }>()
  for (const document of documents) {
    const result = validateResource(document)
    if (!result.ok) {
      errors.push(...result.errors)
      continue
    }
    const loaded: LoadedResource = { resource: result.resource, origin: { file: document.file, line: document.line } }
    const key = identity(result.resource)
    const first = seen.get(key)
    if (first === undefined) {
      seen.set(key, { loaded, document })
      resources.push(loaded)
      continue
    }
    // The same object twice (a list built per endpoint, a file passed twice) is what `kubectl apply` treats as
    // unchanged; two *different* objects under one identity would make the result depend on the order of -f.
    if (JSON.stringify(first.loaded.resource) === JSON.stringify(result.resource)) continue
    errors.push(new ResourceInvalidError(
      `duplicate ${describeIdentity(result.resource)}: also defined at ${first.loaded.origin.file}:${first.document.lineOf(['metadata', 'name'])}`,
      { file: document.file, line: document.lineOf(['metadata', 'name']), field: 'metadata.name' }))
  }
  return { resources, errors }
}

function collect (parsed: { documents: ParsedDocument[], errors: ShadowflowError[] }, documents: ParsedDocument[], errors: ShadowflowError[]): void {
  documents.push(...parsed.documents)
  errors.push(...parsed.errors)
}

async function expandPath (path: string, errors: ShadowflowError[]): Promise<string[]> {
  let info
  try {
    info = await stat(path)
  } catch (cause) {
    errors.push(readError(path, cause))
    return []
  }
  if (!info.isDirectory()) return [path]
  const files: string[] = []
  await walk(path, files, errors, new Set())
  if (files.length === 0) errors.push(new ResourceFileError('no .yaml, .yml or .json files in directory', { file: path }))
  // Sorted as a whole so that the load order (and so every message) is the same on every machine.
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

async function walk (dir: string, files: string[], errors: ShadowflowError[], visited: Set<string>): Promise<void> {
  let entries
  try {
    const info = await stat(dir)
    // A symbolic link back up the tree would otherwise recurse forever.
    const id = `${info.dev}:${info.ino}`
    if (visited.has(id)) return
    visited.add(id)
    entries = await readdir(dir, { withFileTypes: true })
  } catch (cause) {
    errors.push(readError(dir, cause))
    return
  }
  for (const entry of entries) {
    // Hidden entries (.git, .github workflows) are tooling, not manifests; a file named explicitly is always read.
    if (entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    let isDirectory = entry.isDirectory()
    let isFile = entry.isFile()
    if (entry.isSymbolicLink()) {
      try {
        const target = await stat(path)
        isDirectory = target.isDirectory()
        isFile = target.isFile()
      } catch (cause) {
        errors.push(readError(path, cause))
        continue
      }
    }
    if (isDirectory) await walk(path, files, errors, visited)
    else if (isFile && RESOURCE_FILE.test(entry.name)) files.push(path)
  }
}

function readError (path: string, cause: unknown): ResourceFileError {
  const code = (cause as NodeJS.ErrnoException).code
  const reason = code === undefined ? (cause as Error).message : `${code} (${ERRNO_TEXT[code] ?? (cause as Error).message})`
  return new ResourceFileError(`cannot read: ${reason}`, { file: path }, cause)
}

async function readStream (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk))
  return Buffer.concat(chunks)
}

const NAMESPACED = new Set(['NetworkPolicy', 'StagedNetworkPolicy', 'StagedKubernetesNetworkPolicy', 'NetworkSet', 'Pod', 'Service', 'ServiceAccount'])
const TIERED = new Set(['NetworkPolicy', 'GlobalNetworkPolicy', 'StagedNetworkPolicy', 'StagedGlobalNetworkPolicy'])

/** What makes two resources "the same object" to the API server. */
function identity (resource: Resource): string {
  const { apiVersion, kind, metadata } = resource
  // An omitted namespace is where `kubectl apply` would put it.
  const namespace = NAMESPACED.has(kind) ? metadata.namespace ?? 'default' : ''
  return JSON.stringify([apiVersion, kind, namespace, policyName(resource)])
}

// Calico stores a tiered policy as "<tier>.<name>", so "default.allow" and "allow" in tier default are one policy.
function policyName (resource: Resource): string {
  const name = resource.metadata.name
  if (resource.apiVersion !== 'projectcalico.org/v3' || !TIERED.has(resource.kind)) return name
  const tier = (resource.spec as { tier?: string } | undefined)?.tier ?? 'default'
  return name.startsWith(`${tier}.`) ? name.slice(tier.length + 1) : name
}

function describeIdentity (resource: Resource): string {
  const namespace = NAMESPACED.has(resource.kind) ? `${resource.metadata.namespace ?? 'default'}/` : ''
  const group = resource.apiVersion === 'networking.k8s.io/v1' ? ' (networking.k8s.io/v1)' : ''
  return `${resource.kind}${group} ${namespace}${resource.metadata.name}`
}
