// Objects as the API delivers them → the documents shadowflow's validator and models take. Two steps:
// `shapeApiObject` runs on every object before it is cached (so the cache holds only what shadowflow reads —
// a pod's managedFields and last-applied annotation are most of its bytes) and turns Calico's storage CRDs
// (crd.projectcalico.org/v1) into the projectcalico.org/v3 objects they store; `validateApiObject` then checks
// it exactly as a file's document is checked, so an invalid object is skipped with the validator's message.
import type { ResourceInvalidError } from '../errors.js'
import type { ParsedDocument } from '../policy/parse-documents.js'
import type { Resource } from '../policy/resources.js'
import { validateResource } from '../policy/validate-resource.js'
import { apiVersionOf, CALICO_CRD, CALICO_V3, type KubeResource } from './kube-resources.js'

type Rec = Record<string, unknown>

function isRecord (value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// Calico's CRD backend keeps the v3 object's own labels and annotations in this annotation (libcalico-go
// resources.go: metadataAnnotation) when they differ from the CRD's.
const CALICO_METADATA_ANNOTATION = 'projectcalico.org/metadata'

function pick (source: unknown, keys: readonly string[]): Rec | undefined {
  if (!isRecord(source)) return undefined
  const out: Rec = {}
  for (const k of keys) if (source[k] !== undefined) out[k] = source[k]
  return out
}

const META_KEYS = ['name', 'namespace', 'generateName', 'labels', 'uid', 'resourceVersion'] as const

/** Keeps the fields shadowflow reads (and those the cache needs: name, namespace, resourceVersion). */
export function shapeApiObject (object: unknown, resource: KubeResource): Rec {
  const obj = isRecord(object) ? object : {}
  const metadata = pick(obj.metadata, META_KEYS) ?? {}
  // From the resource, not the object: a list's items carry no apiVersion or kind.
  const shaped: Rec = { apiVersion: apiVersionOf(resource), kind: resource.kind, metadata }
  if (resource.group === CALICO_CRD.group) {
    shaped.apiVersion = `${CALICO_V3.group}/${CALICO_V3.version}`
    const annotations = isRecord(obj.metadata) && isRecord(obj.metadata.annotations) ? obj.metadata.annotations : {}
    const stored = annotations[CALICO_METADATA_ANNOTATION]
    if (typeof stored === 'string') {
      try {
        const v3 = JSON.parse(stored) as unknown
        if (isRecord(v3) && isRecord(v3.labels)) metadata.labels = v3.labels
      } catch {
        // A damaged annotation leaves the CRD's own labels, which Calico writes too.
      }
    }
  }
  switch (resource.kind) {
    case 'Pod': {
      const spec = isRecord(obj.spec) ? obj.spec : {}
      shaped.spec = {
        ...pick(spec, ['nodeName', 'serviceAccountName', 'hostNetwork']),
        ...(Array.isArray(spec.containers) ? { containers: spec.containers.map(c => pick(c, ['name', 'ports']) ?? c) } : {})
      }
      shaped.status = pick(obj.status, ['phase', 'podIP', 'podIPs']) ?? {}
      break
    }
    case 'Service':
      shaped.spec = pick(obj.spec, ['selector', 'ports', 'clusterIP', 'clusterIPs', 'type']) ?? {}
      break
    case 'Namespace':
    case 'ServiceAccount':
      break
    default:
      // Policies, tiers, sets and host endpoints: the whole spec is the policy.
      if (obj.spec !== undefined) shaped.spec = obj.spec
  }
  return shaped
}

/** `namespace/name` (or `name`) of an object, for logs. */
export function objectRef (object: Rec): { namespace: string | undefined, name: string } {
  const metadata = isRecord(object.metadata) ? object.metadata : {}
  return { namespace: typeof metadata.namespace === 'string' ? metadata.namespace : undefined, name: typeof metadata.name === 'string' ? metadata.name : '' }
}

export type ApiObjectValidation =
  | { ok: true, resource: Resource }
  | { ok: false, errors: readonly ResourceInvalidError[] }

/** Validates a shaped object like a file's document; `source` names it in error locations. */
export function validateApiObject (object: Rec, source: string): ApiObjectValidation {
  const document: ParsedDocument = { file: source, line: 1, value: object, lineOf: () => 1 }
  const result = validateResource(document)
  return result.ok ? { ok: true, resource: result.resource } : { ok: false, errors: result.errors }
}
