// One parsed document → a typed Resource, or every problem in it. As strict as calicoctl and the Kubernetes API
// server are for policy (unknown fields, enums, CIDRs, ports, selectors, cross-field rules of libcalico-go's
// validator.go and Kubernetes' ValidateNetworkPolicySpec), and strict only on the fields shadowflow reads for the
// inventory kinds (Pod, Service, Namespace, ServiceAccount), so real `kubectl get -o yaml` dumps are accepted.
// Every error carries file, the line of the offending field and its path; a document's errors are all reported.
import { closestName } from '../text/closest-name.js'
import { ResourceInvalidError, SelectorSyntaxError } from '../errors.js'
import { cidrCovers, parseCidr, parseIp, type Cidr } from './ip-address.js'
import { describeType, formatFieldPath, type FieldPath, type ParsedDocument } from './parse-documents.js'
import type { Resource } from './resources.js'
import { isBareGlobalSelector, parseSelector, selectorUsesGlobal } from './selector/index.js'

/** The outcome of validating one document. */
export type ValidationResult =
  | { ok: true, resource: Resource }
  | { ok: false, errors: ResourceInvalidError[] }

/** Validates one parsed document against the API it claims (apiVersion/kind); never throws on bad input. */
export function validateResource (document: ParsedDocument): ValidationResult {
  const c = new Checker(document)
  checkDocument(c, document.value)
  return c.errors.length === 0
    ? { ok: true, resource: withSpec(document.value as Resource) }
    : { ok: false, errors: c.errors.sort((a, b) => (a.location.line ?? 0) - (b.location.line ?? 0)) }
}

// The API lets a Calico resource omit `spec` (all defaults); the typed model always has one.
function withSpec (resource: Resource): Resource {
  if (resource.apiVersion !== 'projectcalico.org/v3' || !isAbsent((resource as { spec?: unknown }).spec)) return resource
  return { ...resource, spec: {} } as Resource
}

// ---------------------------------------------------------------------------------------------------------------
// Error collection

class Checker {
  readonly errors: ResourceInvalidError[] = []
  constructor (private readonly document: ParsedDocument) {}

  report (path: FieldPath, message: string, column?: number): void {
    this.errors.push(new ResourceInvalidError(message, {
      file: this.document.file,
      line: this.document.lineOf(path),
      ...(path.length > 0 ? { field: formatFieldPath(path) } : {}),
      ...(column !== undefined ? { column } : {})
    }))
  }
}

type Check = (c: Checker, value: unknown, path: FieldPath) => void
type Rec = Record<string, unknown>

function isRecord (value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Absent for the API: YAML `field:` with nothing after it decodes to null, which Go decodes to the zero value. */
function isAbsent (value: unknown): value is null | undefined {
  return value === undefined || value === null
}

function quote (value: unknown): string {
  return JSON.stringify(typeof value === 'string' ? value : String(value))
}

// ---------------------------------------------------------------------------------------------------------------
// "Did you mean": at most a third of the word (1–3 edits) may differ, case aside.

function closest (word: string, candidates: readonly string[]): string | undefined {
  return closestName(word, candidates, { ignoreCase: true, maxDistance: Math.max(1, Math.min(3, Math.floor(word.length / 3))) })
}

function didYouMean (word: string, candidates: readonly string[]): string {
  const guess = closest(word, candidates)
  return guess === undefined ? '' : ` (did you mean ${quote(guess)}?)`
}

// ---------------------------------------------------------------------------------------------------------------
// Generic shape checks

interface ObjectOptions {
  required?: readonly string[]
  /** Accept fields not listed (inventory kinds carry many fields shadowflow does not read). */
  open?: boolean
  /** Extra wording for a missing required field, by field. */
  hints?: Readonly<Record<string, string>>
}

function object (fields: Readonly<Record<string, Check>>, options: ObjectOptions = {}): Check {
  const known = Object.keys(fields)
  return (c, value, path) => {
    if (!isRecord(value)) {
      c.report(path, `expected a mapping, got ${describeType(value)}`)
      return
    }
    for (const [key, field] of Object.entries(value)) {
      const check = Object.hasOwn(fields, key) ? fields[key] : undefined
      if (check === undefined) {
        if (options.open !== true) c.report([...path, key], `unknown field ${quote(key)}${didYouMean(key, known)}`)
        continue
      }
      if (!isAbsent(field)) check(c, field, [...path, key])
    }
    for (const key of options.required ?? []) {
      if (isAbsent(value[key])) c.report([...path, key], `is required${options.hints?.[key] ?? ''}`)
    }
  }
}

function arrayOf (item: Check): Check {
  return (c, value, path) => {
    if (!Array.isArray(value)) {
      c.report(path, `expected a list, got ${describeType(value)}`)
      return
    }
    value.forEach((v, i) => item(c, v, [...path, i]))
  }
}

const anyValue: Check = () => {}

const string: Check = (c, value, path) => {
  if (typeof value !== 'string') {
    c.report(path, `expected a string, got ${describeType(value)}${typeof value === 'number' || typeof value === 'boolean' ? '; quote it' : ''}`)
  }
}

const boolean: Check = (c, value, path) => {
  if (typeof value !== 'boolean') c.report(path, `expected true or false, got ${describeType(value)}`)
}

const number: Check = (c, value, path) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) c.report(path, `expected a number, got ${describeType(value)}`)
}

function integer (min: number, max: number, what = 'value'): Check {
  return (c, value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      c.report(path, `expected an integer, got ${describeType(value)}`)
    } else if (value < min || value > max) {
      c.report(path, `${quote(value)} is not a valid ${what} (expected ${min}–${max})`)
    }
  }
}

function oneOf (values: readonly (string | number)[]): Check {
  return (c, value, path) => {
    if (!values.includes(value as string | number)) {
      const hint = typeof value === 'string' ? didYouMean(value, values.map(String)) : ''
      c.report(path, `${quote(value)} is not one of ${values.map(v => typeof v === 'string' ? v : String(v)).join(', ')}${hint}`)
    }
  }
}

function matching (pattern: RegExp, what: string, maxLength?: number): Check {
  return (c, value, path) => {
    if (typeof value !== 'string') return string(c, value, path)
    if (maxLength !== undefined && value.length > maxLength) c.report(path, `${quote(value)} is longer than ${maxLength} characters`)
    else if (!pattern.test(value)) c.report(path, `${quote(value)} is not a valid ${what}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes name, label and port-name rules (k8s.io/apimachinery/pkg/util/validation)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
// validator.go networkPolicyNameRegex / globalNetworkPolicyNameRegex: "name" or "tier.name", plus the
// "knp.default." / "ossg.default." prefixes of converted Kubernetes and OpenStack policies.
const CALICO_POLICY_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$|^(knp|ossg)\.default\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const CALICO_GLOBAL_POLICY_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

const dnsLabel = matching(DNS1123_LABEL, 'name (lower-case letters, digits and "-", starting and ending with a letter or digit)', 63)
const dnsSubdomain = matching(DNS1123_SUBDOMAIN, 'name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)', 253)
const dns1035Label = matching(DNS1035_LABEL, 'Service name (lower-case letters, digits and "-", starting with a letter)', 63)
const calicoPolicyName = matching(CALICO_POLICY_NAME, 'policy name ("name" or "tier.name"; lower-case letters, digits and "-")', 253)
const calicoGlobalPolicyName = matching(CALICO_GLOBAL_POLICY_NAME, 'policy name ("name" or "tier.name"; lower-case letters, digits and "-")', 253)

function qualifiedNameProblem (key: string): string | undefined {
  const slash = key.lastIndexOf('/')
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return 'its prefix must be a DNS subdomain (lower-case, e.g. example.com/)'
  if (name.length === 0 || name.length > 63) return 'the name part must be 1–63 characters'
  if (!LABEL_NAME.test(name)) return 'the name part may hold letters, digits, "-", "_" and ".", starting and ending with a letter or digit'
  return undefined
}

function labelValueProblem (value: string): string | undefined {
  if (value.length > 63) return 'label values are at most 63 characters'
  if (value !== '' && !LABEL_NAME.test(value)) return 'label values may hold letters, digits, "-", "_" and ".", starting and ending with a letter or digit'
  return undefined
}

const labelMap: Check = (c, value, path) => {
  if (!isRecord(value)) return c.report(path, `expected a mapping of labels, got ${describeType(value)}`)
  for (const [key, v] of Object.entries(value)) {
    const keyProblem = qualifiedNameProblem(key)
    if (keyProblem !== undefined) c.report([...path, key], `${quote(key)} is not a valid label key: ${keyProblem}`)
    if (typeof v !== 'string') {
      string(c, v, [...path, key])
      continue
    }
    const valueProblem = labelValueProblem(v)
    if (valueProblem !== undefined) c.report([...path, key], `${quote(v)} is not a valid label value: ${valueProblem}`)
  }
}

const annotationMap: Check = (c, value, path) => {
  if (!isRecord(value)) return c.report(path, `expected a mapping of annotations, got ${describeType(value)}`)
  for (const [key, v] of Object.entries(value)) {
    // Calico lower-cases annotation keys before checking them (validateObjectMetaAnnotations).
    const keyProblem = qualifiedNameProblem(key.toLowerCase())
    if (keyProblem !== undefined) c.report([...path, key], `${quote(key)} is not a valid annotation key: ${keyProblem}`)
    if (typeof v !== 'string') string(c, v, [...path, key])
  }
}

/** IANA_SVC_NAME (validation.IsValidPortName): what named ports must look like, in Calico and Kubernetes. */
function portNameProblem (name: string): string | undefined {
  if (name.length === 0 || name.length > 15) return 'port names are 1–15 characters'
  if (!/^[-a-z0-9]+$/.test(name)) return 'port names hold only lower-case letters, digits and "-"'
  if (!/[a-z]/.test(name)) return 'port names must contain at least one letter'
  if (name.includes('--')) return 'port names must not contain "--"'
  if (name.startsWith('-') || name.endsWith('-')) return 'port names must not start or end with "-"'
  return undefined
}

const portName: Check = (c, value, path) => {
  if (typeof value !== 'string') return string(c, value, path)
  const problem = portNameProblem(value)
  if (problem !== undefined) c.report(path, `${quote(value)} is not a valid port name: ${problem}`)
}

const ipAddress: Check = (c, value, path) => {
  if (typeof value !== 'string') return string(c, value, path)
  if (parseIp(value) === undefined) c.report(path, `${quote(value)} is not a valid IPv4 or IPv6 address`)
}

const k8sProtocol = oneOf(['TCP', 'UDP', 'SCTP'])

// ---------------------------------------------------------------------------------------------------------------
// Calico value types

const PORT_HELP = '(expected a number 1–65535, a range "min:max" or a port name)'

/** Classifies a Calico port (numorstring.Port); undefined after reporting when it is invalid. */
function calicoPort (c: Checker, value: unknown, path: FieldPath): 'numeric' | 'named' | undefined {
  const inRange = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535
  if (typeof value === 'number') {
    if (inRange(value)) return 'numeric'
    c.report(path, `${quote(value)} is not a valid port ${PORT_HELP}`)
    return undefined
  }
  if (typeof value !== 'string') {
    c.report(path, `expected a port ${PORT_HELP}, got ${describeType(value)}`)
    return undefined
  }
  if (/^\d+$/.test(value)) {
    if (inRange(Number(value))) return 'numeric'
    c.report(path, `${quote(value)} is not a valid port ${PORT_HELP}`)
    return undefined
  }
  const range = /^(\d+):(\d+)$/.exec(value)
  if (range !== null) {
    const [min, max] = [Number(range[1]), Number(range[2])]
    if (!inRange(min) || !inRange(max)) c.report(path, `${quote(value)} is not a valid port range (both ends must be 1–65535)`)
    else if (min > max) c.report(path, `${quote(value)} is not a valid port range (the first port must not exceed the second)`)
    else return 'numeric'
    return undefined
  }
  const problem = portNameProblem(value)
  if (problem === undefined) return 'named'
  c.report(path, `${quote(value)} is not a valid port ${PORT_HELP}: ${problem}`)
  return undefined
}

const calicoPorts: Check = arrayOf((c, v, p) => { calicoPort(c, v, p) })

const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const
const PROTOCOL_NUMBER_OF: Readonly<Record<string, number>> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 }

/** Protocol number of a valid Calico protocol value (numorstring.Protocol; names are case-sensitive). */
function protocolNumberOf (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 && value <= 255 ? value : undefined
  if (typeof value !== 'string') return undefined
  if (/^\d+$/.test(value)) return protocolNumberOf(Number(value))
  return PROTOCOL_NUMBER_OF[value]
}

const calicoProtocol: Check = (c, value, path) => {
  if (typeof value !== 'string' && typeof value !== 'number') return c.report(path, `expected a protocol name or number, got ${describeType(value)}`)
  if (protocolNumberOf(value) !== undefined) return
  const hint = typeof value === 'string' ? didYouMean(value, PROTOCOL_NAMES) : ''
  c.report(path, `${quote(value)} is not a valid protocol (expected ${PROTOCOL_NAMES.join(', ')} or a number 1–255)${hint}`)
}

function cidr (options: { bareIp: boolean }): Check {
  return (c, value, path) => {
    if (typeof value !== 'string') return string(c, value, path)
    if (!options.bareIp && !value.includes('/')) {
      c.report(path, `${quote(value)} is not a valid CIDR (write it with a prefix length, e.g. ${value}/${value.includes(':') ? 128 : 32})`)
    } else if (parseCidr(value) === undefined) {
      c.report(path, `${quote(value)} is not a valid CIDR (expected an IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/64)`)
    }
  }
}

type SelectorPlace = 'plain' | 'ruleNamespaceSelector'

function calicoSelector (place: SelectorPlace): Check {
  return (c, value, path) => {
    if (typeof value !== 'string') return string(c, value, path)
    let node
    try {
      node = parseSelector(value)
    } catch (error) {
      if (!(error instanceof SelectorSyntaxError)) throw error
      const column = error.location.column
      const where = column === undefined || /column/i.test(error.message) ? '' : ` at column ${column}`
      c.report(path, `selector ${JSON.stringify(value)} does not parse${where}: ${error.message}`, column)
      return
    }
    if (!selectorUsesGlobal(node)) return
    // validator.go validateEntityRule and the CRD rules: global() only as the entire namespaceSelector of a rule.
    if (place !== 'ruleNamespaceSelector') c.report(path, 'global() may only be used as the whole namespaceSelector of a rule source or destination')
    else if (!isBareGlobalSelector(value)) c.report(path, 'global() cannot be combined with other selectors')
  }
}

const selector = calicoSelector('plain')

// ---------------------------------------------------------------------------------------------------------------
// metadata

const OBJECT_META_FIELDS = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences',
  'finalizers', 'managedFields', 'clusterName'] as const

function metadata (name: Check, namespaced: boolean, kind: string): Check {
  const fields: Record<string, Check> = Object.fromEntries(OBJECT_META_FIELDS.map(f => [f, anyValue]))
  fields.name = name
  fields.generateName = string
  fields.labels = labelMap
  fields.annotations = annotationMap
  fields.namespace = namespaced
    ? dnsLabel
    : (c, _v, p) => c.report(p, `${kind} is cluster-scoped; remove metadata.namespace`)
  return object(fields, { required: ['name'] })
}

// ---------------------------------------------------------------------------------------------------------------
// projectcalico.org/v3 policy

const icmpFields = object({ type: integer(0, 254, 'ICMP type'), code: integer(0, 255, 'ICMP code') })

const entityRule = object({
  nets: arrayOf(cidr({ bareIp: false })),
  notNets: arrayOf(cidr({ bareIp: false })),
  selector,
  notSelector: selector,
  namespaceSelector: calicoSelector('ruleNamespaceSelector'),
  ports: calicoPorts,
  notPorts: calicoPorts,
  serviceAccounts: object({ names: arrayOf(string), selector }),
  services: object({ name: string, namespace: string })
})

const httpMatch = object({
  methods: arrayOf(string),
  paths: arrayOf(object({ exact: string, prefix: string }))
})

const rule = object({
  action: oneOf(['Allow', 'Deny', 'Log', 'Pass']),
  protocol: calicoProtocol,
  notProtocol: calicoProtocol,
  icmp: icmpFields,
  notICMP: icmpFields,
  ipVersion: oneOf([4, 6]),
  source: entityRule,
  destination: entityRule,
  http: httpMatch,
  metadata: object({ annotations: annotationMap })
}, { required: ['action'] })

const POLICY_TYPES = ['Ingress', 'Egress'] as const
const policyTypes = arrayOf(oneOf(POLICY_TYPES))

const networkPolicySpecFields: Record<string, Check> = {
  tier: dnsLabel,
  order: number,
  selector,
  serviceAccountSelector: selector,
  types: policyTypes,
  ingress: arrayOf(rule),
  egress: arrayOf(rule),
  performanceHints: arrayOf(oneOf(['AssumeNeededOnEveryNode']))
}

const globalNetworkPolicySpecFields: Record<string, Check> = {
  ...networkPolicySpecFields,
  namespaceSelector: selector,
  doNotTrack: boolean,
  preDNAT: boolean,
  applyOnForward: boolean
}

const stagedAction = oneOf(['Set', 'Delete'])

type Direction = 'ingress' | 'egress'

/** Cross-field rules of one Calico rule (validator.go validateRule / validateEntityRule / validateNetworkPolicySpec). */
function checkRuleSemantics (c: Checker, r: Rec, path: FieldPath, direction: Direction, global: boolean): void {
  const protocolValue = r.protocol
  const protocol = isAbsent(protocolValue) ? undefined : protocolNumberOf(protocolValue)
  const protocolKnown = isAbsent(protocolValue) || protocol !== undefined
  const supportsPorts = protocol === 6 || protocol === 17 || protocol === 132
  const isIcmp = protocol === 1 || protocol === 58
  const ipVersion = r.ipVersion === 4 || r.ipVersion === 6 ? r.ipVersion : undefined

  let seenV4 = false
  let seenV6 = false
  for (const side of ['source', 'destination'] as const) {
    const entity = r[side]
    if (!isRecord(entity)) continue
    const at = [...path, side]
    for (const field of ['ports', 'notPorts'] as const) {
      const ports = entity[field]
      if (!Array.isArray(ports) || ports.length === 0) continue
      if (isAbsent(protocolValue)) {
        // Named ports carry their own protocol, so upstream lets them through without one (AllPortsAreNamed).
        const numeric = ports.some(p => typeof p === 'number' || (typeof p === 'string' && /^\d+(:\d+)?$/.test(p)))
        if (numeric) c.report([...at, field], 'numeric ports and port ranges need the rule\'s protocol set to TCP, UDP or SCTP')
      } else if (protocolKnown && !supportsPorts) {
        c.report([...at, field], `ports need the rule's protocol to be TCP, UDP or SCTP, not ${quote(protocolValue)}`)
      }
    }
    for (const field of ['nets', 'notNets'] as const) {
      const nets = entity[field]
      if (!Array.isArray(nets)) continue
      let v4 = false
      let v6 = false
      nets.forEach((text, i) => {
        const parsed = typeof text === 'string' && text.includes('/') ? parseCidr(text) : undefined
        if (parsed === undefined) return
        v4 ||= parsed.version === 4
        v6 ||= parsed.version === 6
        if (ipVersion !== undefined && parsed.version !== ipVersion) c.report([...at, field, i], `${quote(text)} is an IPv${parsed.version} CIDR but the rule's ipVersion is ${ipVersion}`)
        if (field === 'notNets' && parsed.prefixLength === 0) c.report([...at, field, i], `${quote(text)} in notNets matches every address, so the rule could never match`)
      })
      if ((v4 && v6) || (v4 && seenV6) || (v6 && seenV4)) c.report([...at, field], 'a rule may not mix IPv4 and IPv6 CIDRs')
      seenV4 ||= v4
      seenV6 ||= v6
    }
    const services = entity.services
    if (isRecord(services)) {
      const servicesPath = [...at, 'services']
      if ((direction === 'egress' && side === 'source') || (direction === 'ingress' && side === 'destination')) {
        c.report(servicesPath, `services are not allowed in ${direction} rule ${side}s`)
      }
      if (typeof services.name !== 'string' || services.name === '') c.report([...servicesPath, 'name'], 'is required')
      if (global && isAbsent(services.namespace)) c.report([...servicesPath, 'namespace'], 'is required in a global policy')
      if (!isAbsent(entity.selector) || !isAbsent(entity.notSelector)) c.report(servicesPath, 'services cannot be combined with selector or notSelector')
      if (!isAbsent(entity.nets) || !isAbsent(entity.notNets)) c.report(servicesPath, 'services cannot be combined with nets or notNets')
    }
  }

  for (const field of ['icmp', 'notICMP'] as const) {
    const icmp = r[field]
    if (!isRecord(icmp)) continue
    if (protocolKnown && !isIcmp) c.report([...path, field], `${field} needs the rule's protocol to be ICMP or ICMPv6`)
    if (!isAbsent(icmp.code) && isAbsent(icmp.type)) c.report([...path, field, 'code'], 'an ICMP code needs an ICMP type')
  }
  if (protocol === 1 && ipVersion === 6) c.report([...path, 'ipVersion'], 'protocol ICMP is IPv4-only; use ICMPv6 with ipVersion 6')
  if (protocol === 58 && ipVersion === 4) c.report([...path, 'ipVersion'], 'protocol ICMPv6 is IPv6-only; use ICMP with ipVersion 4')

  const http = r.http
  if (isRecord(http)) {
    if (direction === 'egress') c.report([...path, 'http'], 'http match criteria are not allowed in egress rules')
    const methods = http.methods
    if (Array.isArray(methods) && new Set(methods).size !== methods.length) c.report([...path, 'http', 'methods'], 'methods must not repeat')
    const paths = http.paths
    if (Array.isArray(paths)) {
      paths.forEach((p, i) => {
        if (!isRecord(p)) return
        const at = [...path, 'http', 'paths', i]
        const exact = typeof p.exact === 'string' && p.exact !== '' ? p.exact : undefined
        const prefix = typeof p.prefix === 'string' && p.prefix !== '' ? p.prefix : undefined
        if (exact !== undefined && prefix !== undefined) c.report(at, 'set either exact or prefix, not both')
        else if (exact === undefined && prefix === undefined) c.report(at, 'set exact or prefix')
        const v = exact ?? prefix
        if (v !== undefined && (!v.startsWith('/') || /[? #]/.test(v))) c.report(at, `${quote(v)} is not a valid path (it must start with "/" and hold no "?", "#" or space)`)
      })
    }
  }
}

function checkCalicoPolicySpec (c: Checker, spec: Rec, global: boolean): void {
  const types = spec.types
  if (Array.isArray(types) && new Set(types).size !== types.length) c.report(['spec', 'types'], 'types must not repeat')
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = spec[direction]
    if (!Array.isArray(rules)) continue
    rules.forEach((r, i) => { if (isRecord(r)) checkRuleSemantics(c, r, ['spec', direction, i], direction, global) })
  }
  if (!global) return
  // GlobalNetworkPolicy CRD rules on untracked / pre-DNAT policy.
  if (spec.doNotTrack === true && spec.preDNAT === true) c.report(['spec', 'preDNAT'], 'preDNAT and doNotTrack cannot both be true')
  if ((spec.doNotTrack === true || spec.preDNAT === true) && spec.applyOnForward !== true) {
    c.report(['spec', 'applyOnForward'], `must be true when ${spec.doNotTrack === true ? 'doNotTrack' : 'preDNAT'} is true`)
  }
  if (spec.preDNAT === true && Array.isArray(spec.egress) && spec.egress.length > 0) c.report(['spec', 'egress'], 'a preDNAT policy cannot have egress rules')
  if (spec.preDNAT === true && Array.isArray(spec.types) && spec.types.includes('Egress')) c.report(['spec', 'types'], 'a preDNAT policy cannot have type Egress')
}

/** A dotted Calico policy name is "tier.name"; its tier must be the policy's (names.validateBackendTieredPolicyName). */
function checkTierPrefix (c: Checker, name: unknown, spec: Rec | undefined): void {
  if (typeof name !== 'string' || /^(knp|ossg)\.default\./.test(name)) return
  const dot = name.indexOf('.')
  if (dot < 0) return
  const prefix = name.slice(0, dot)
  const tier = typeof spec?.tier === 'string' && spec.tier !== '' ? spec.tier : 'default'
  if (prefix !== tier) {
    c.report(['metadata', 'name'], `${quote(name)} is prefixed with tier ${quote(prefix)} but the policy is in tier ${quote(tier)} (spec.tier); name it ${quote(`${tier}.${name.slice(dot + 1)}`)} or ${quote(name.slice(dot + 1))}`)
  }
}

/** `stagedAction: Delete` names the policy to remove and nothing else (validator.go validateStaged*Policy). */
function checkStagedDelete (c: Checker, spec: Rec, allowed: readonly string[]): void {
  if (spec.stagedAction !== 'Delete') return
  for (const [key, value] of Object.entries(spec)) {
    if (allowed.includes(key) || key === 'stagedAction' || isEmptyValue(value)) continue
    c.report(['spec', key], `must not be set when stagedAction is Delete (a Delete staged policy only names the policy it removes${allowed.includes('tier') ? '; only tier may be set' : ''})`)
  }
}

/** Go's zero value after decoding: what upstream's reflect.DeepEqual against an empty spec lets through. */
function isEmptyValue (value: unknown): boolean {
  return isAbsent(value) || value === false || value === '' ||
    (Array.isArray(value) && value.length === 0) || (isRecord(value) && Object.values(value).every(isEmptyValue))
}

// ---------------------------------------------------------------------------------------------------------------
// networking.k8s.io/v1 NetworkPolicy (k8s.io/kubernetes/pkg/apis/networking/validation)

const labelSelectorRequirement = object({
  key: (c, v, p) => {
    if (typeof v !== 'string') return string(c, v, p)
    const problem = qualifiedNameProblem(v)
    if (problem !== undefined) c.report(p, `${quote(v)} is not a valid label key: ${problem}`)
  },
  operator: oneOf(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: arrayOf(string)
}, { required: ['key', 'operator'] })

const labelSelector: Check = (c, value, path) => {
  object({ matchLabels: labelMap, matchExpressions: arrayOf(labelSelectorRequirement) })(c, value, path)
  if (!isRecord(value) || !Array.isArray(value.matchExpressions)) return
  value.matchExpressions.forEach((e, i) => {
    if (!isRecord(e)) return
    const values = Array.isArray(e.values) ? e.values : []
    const at = [...path, 'matchExpressions', i]
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) c.report([...at, 'values'], `must be non-empty when operator is ${String(e.operator)}`)
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) c.report([...at, 'values'], `must be empty when operator is ${String(e.operator)}`)
  })
}

const k8sPort: Check = (c, value, path) => {
  if (typeof value === 'number') return integer(1, 65535, 'port')(c, value, path)
  if (typeof value !== 'string') return c.report(path, `expected a port number or name, got ${describeType(value)}`)
  // IntOrString: a quoted number is a *name* to the API server, and names need a letter.
  if (/^\d+$/.test(value)) return c.report(path, `${quote(value)} is not a valid port name (write the number without quotes: ${value})`)
  portName(c, value, path)
}

const k8sNetworkPolicyPort = object({ protocol: k8sProtocol, port: k8sPort, endPort: integer(1, 65535, 'port') })

const ipBlock = object({ cidr: cidr({ bareIp: false }), except: arrayOf(cidr({ bareIp: false })) }, { required: ['cidr'] })

const k8sPeer = object({ podSelector: labelSelector, namespaceSelector: labelSelector, ipBlock })

const k8sIngressRule = object({ from: arrayOf(k8sPeer), ports: arrayOf(k8sNetworkPolicyPort) })
const k8sEgressRule = object({ to: arrayOf(k8sPeer), ports: arrayOf(k8sNetworkPolicyPort) })

const k8sSpecFields: Record<string, Check> = {
  podSelector: labelSelector,
  policyTypes: arrayOf(oneOf(POLICY_TYPES)),
  ingress: arrayOf(k8sIngressRule),
  egress: arrayOf(k8sEgressRule)
}

const PODSELECTOR_HINT = ' (use podSelector: {} to select every pod in the namespace)'

function checkK8sSpecSemantics (c: Checker, spec: Rec): void {
  const types = spec.policyTypes
  if (Array.isArray(types) && new Set(types).size !== types.length) c.report(['spec', 'policyTypes'], 'policyTypes must not repeat')
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    const rules = spec[direction]
    if (!Array.isArray(rules)) continue
    rules.forEach((r, i) => {
      if (!isRecord(r)) return
      const at = ['spec', direction, i]
      const peers = r[peersKey]
      if (Array.isArray(peers)) {
        peers.forEach((peer, j) => {
          if (!isRecord(peer)) return
          const peerPath = [...at, peersKey, j]
          const set = ['podSelector', 'namespaceSelector', 'ipBlock'].filter(k => !isAbsent(peer[k]))
          if (set.length === 0) c.report(peerPath, 'must specify podSelector, namespaceSelector or ipBlock')
          else if (set.includes('ipBlock') && set.length > 1) c.report([...peerPath, 'ipBlock'], 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer')
          if (isRecord(peer.ipBlock)) checkIpBlock(c, peer.ipBlock, [...peerPath, 'ipBlock'])
        })
      }
      const ports = r.ports
      if (Array.isArray(ports)) {
        ports.forEach((p, j) => {
          if (!isRecord(p) || isAbsent(p.endPort)) return
          const portPath = [...at, 'ports', j]
          if (isAbsent(p.port)) c.report([...portPath, 'endPort'], 'endPort needs port to be set')
          else if (typeof p.port === 'string') c.report([...portPath, 'endPort'], 'endPort cannot be used with a named port')
          else if (typeof p.port === 'number' && typeof p.endPort === 'number' && p.endPort < p.port) c.report([...portPath, 'endPort'], `must be greater than or equal to port (${p.port})`)
        })
      }
    })
  }
}

function checkIpBlock (c: Checker, block: Rec, path: FieldPath): void {
  const outer: Cidr | undefined = typeof block.cidr === 'string' && block.cidr.includes('/') ? parseCidr(block.cidr) : undefined
  if (outer === undefined || !Array.isArray(block.except)) return
  block.except.forEach((text, i) => {
    const inner = typeof text === 'string' && text.includes('/') ? parseCidr(text) : undefined
    if (inner === undefined) return
    // ValidateIPBlock: each except must be a strict subset of cidr.
    if (!cidrCovers(outer, inner) || inner.prefixLength <= outer.prefixLength) c.report([...path, 'except', i], `${quote(text)} is not a strict subset of cidr ${quote(block.cidr)}`)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Kinds

interface KindRule {
  namespaced: boolean
  name: Check
  /** Top-level fields besides apiVersion, kind and metadata; undefined for an open (inventory) kind. */
  fields?: Readonly<Record<string, Check>>
  required?: readonly string[]
  hints?: Readonly<Record<string, string>>
  /** Cross-field checks on the whole document, run after the shape checks. */
  semantics?: (c: Checker, doc: Rec) => void
}

const specOf = (doc: Rec): Rec | undefined => (isRecord(doc.spec) ? doc.spec : undefined)

function calicoPolicyKind (options: { global: boolean, staged: boolean }): KindRule {
  const fields = options.global ? globalNetworkPolicySpecFields : networkPolicySpecFields
  return {
    namespaced: !options.global,
    name: options.global ? calicoGlobalPolicyName : calicoPolicyName,
    fields: { spec: object(options.staged ? { ...fields, stagedAction } : fields) },
    semantics: (c, doc) => {
      const spec = specOf(doc)
      checkTierPrefix(c, isRecord(doc.metadata) ? doc.metadata.name : undefined, spec)
      if (spec === undefined) return
      // Upstream's client clears `types` of a Delete staged policy before validating, so types may stay.
      if (options.staged && spec.stagedAction === 'Delete') checkStagedDelete(c, spec, ['tier', 'types'])
      else checkCalicoPolicySpec(c, spec, options.global)
    }
  }
}

const endpointPort = object({ name: portName, port: integer(1, 65535, 'port'), protocol: k8sProtocol }, { required: ['name', 'port', 'protocol'] })

const containerPort = object({
  containerPort: integer(1, 65535, 'port'),
  name: portName,
  protocol: k8sProtocol,
  hostPort: integer(1, 65535, 'port'),
  hostIP: ipAddress
}, { required: ['containerPort'], open: true })

const container = object({ name: dnsLabel, ports: arrayOf(containerPort) }, { required: ['name'], open: true })

function checkContainerPortNames (c: Checker, doc: Rec): void {
  const spec = specOf(doc)
  for (const list of ['containers', 'initContainers'] as const) {
    const containers = spec?.[list]
    if (!Array.isArray(containers)) continue
    containers.forEach((ctr, i) => {
      const ports = isRecord(ctr) && Array.isArray(ctr.ports) ? ctr.ports : []
      const seen = new Set<string>()
      ports.forEach((p, j) => {
        if (!isRecord(p) || typeof p.name !== 'string') return
        if (seen.has(p.name)) c.report(['spec', list, i, 'ports', j, 'name'], `port name ${quote(p.name)} is used twice in this container`)
        seen.add(p.name)
      })
    })
  }
}

const clusterIp: Check = (c, value, path) => {
  if (value === 'None' || value === '') return
  ipAddress(c, value, path)
}

const servicePort = object({
  name: dns1035Label,
  protocol: k8sProtocol,
  port: integer(1, 65535, 'port'),
  targetPort: (c, v, p) => (typeof v === 'number' ? integer(1, 65535, 'port')(c, v, p) : k8sPort(c, v, p)),
  nodePort: integer(1, 65535, 'port')
}, { required: ['port'], open: true })

function checkServicePorts (c: Checker, doc: Rec): void {
  const ports = specOf(doc)?.ports
  if (!Array.isArray(ports) || ports.length < 2) return
  // The API server requires names once a Service has more than one port, since EndpointSlices refer to them.
  ports.forEach((p, i) => { if (isRecord(p) && isAbsent(p.name)) c.report(['spec', 'ports', i, 'name'], 'is required when a Service has more than one port') })
}

const KINDS: Readonly<Record<string, Readonly<Record<string, KindRule>>>> = {
  'projectcalico.org/v3': {
    NetworkPolicy: calicoPolicyKind({ global: false, staged: false }),
    GlobalNetworkPolicy: calicoPolicyKind({ global: true, staged: false }),
    StagedNetworkPolicy: calicoPolicyKind({ global: false, staged: true }),
    StagedGlobalNetworkPolicy: calicoPolicyKind({ global: true, staged: true }),
    StagedKubernetesNetworkPolicy: {
      namespaced: true,
      name: dnsSubdomain,
      fields: { spec: object({ ...k8sSpecFields, stagedAction }) },
      required: ['spec'],
      semantics: (c, doc) => {
        const spec = specOf(doc)
        if (spec === undefined) return
        if (spec.stagedAction === 'Delete') return checkStagedDelete(c, spec, [])
        if (isAbsent(spec.podSelector)) c.report(['spec', 'podSelector'], `is required${PODSELECTOR_HINT}`)
        checkK8sSpecSemantics(c, spec)
      }
    },
    Tier: {
      namespaced: false,
      name: matching(DNS1123_LABEL, 'tier name (lower-case letters, digits and "-", no dots)', 63),
      fields: { spec: object({ order: number, defaultAction: oneOf(['Deny', 'Pass']) }) }
    },
    NetworkSet: {
      namespaced: true,
      name: dnsSubdomain,
      fields: { spec: object({ nets: arrayOf(cidr({ bareIp: true })), allowedEgressDomains: arrayOf(string) }) },
      semantics: checkNetworkSetLabels
    },
    GlobalNetworkSet: {
      namespaced: false,
      name: dnsSubdomain,
      fields: { spec: object({ nets: arrayOf(cidr({ bareIp: true })), allowedEgressDomains: arrayOf(string) }) },
      semantics: checkNetworkSetLabels
    },
    HostEndpoint: {
      namespaced: false,
      name: dnsSubdomain,
      fields: {
        spec: object({
          node: string,
          interfaceName: string,
          expectedIPs: arrayOf(ipAddress),
          profiles: arrayOf(string),
          ports: arrayOf(endpointPort)
        })
      },
      required: ['spec'],
      semantics: (c, doc) => {
        const spec = specOf(doc)
        if (spec !== undefined && isEmptyValue(spec.interfaceName) && isEmptyValue(spec.expectedIPs)) {
          c.report(['spec'], 'set interfaceName or expectedIPs (a host endpoint must say which interface or addresses it covers)')
        }
      }
    }
  },
  'networking.k8s.io/v1': {
    NetworkPolicy: {
      namespaced: true,
      name: dnsSubdomain,
      fields: { spec: object(k8sSpecFields, { required: ['podSelector'], hints: { podSelector: PODSELECTOR_HINT } }), status: anyValue },
      required: ['spec'],
      semantics: (c, doc) => { const spec = specOf(doc); if (spec !== undefined) checkK8sSpecSemantics(c, spec) }
    }
  },
  v1: {
    Namespace: { namespaced: false, name: dnsLabel },
    ServiceAccount: { namespaced: true, name: dnsSubdomain },
    Pod: {
      namespaced: true,
      name: dnsSubdomain,
      semantics: (c, doc) => {
        object({
          nodeName: string,
          serviceAccountName: dnsSubdomain,
          hostNetwork: boolean,
          containers: arrayOf(container),
          initContainers: arrayOf(container)
        }, { open: true })(c, doc.spec ?? {}, ['spec'])
        object({ phase: string, podIP: ipAddress, podIPs: arrayOf(object({ ip: ipAddress }, { required: ['ip'] })) }, { open: true })(c, doc.status ?? {}, ['status'])
        checkContainerPortNames(c, doc)
      }
    },
    Service: {
      namespaced: true,
      name: dns1035Label,
      semantics: (c, doc) => {
        object({
          selector: labelMap,
          ports: arrayOf(servicePort),
          clusterIP: clusterIp,
          clusterIPs: arrayOf(clusterIp),
          type: oneOf(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'])
        }, { open: true })(c, doc.spec ?? {}, ['spec'])
        checkServicePorts(c, doc)
      }
    }
  }
}

function checkNetworkSetLabels (c: Checker, doc: Rec): void {
  const labels = isRecord(doc.metadata) && isRecord(doc.metadata.labels) ? doc.metadata.labels : {}
  // validator.go: the namespace label is Calico's own, written when it maps a namespace; users may not set it.
  if ('projectcalico.org/namespace' in labels) c.report(['metadata', 'labels', 'projectcalico.org/namespace'], 'projectcalico.org/namespace is reserved for Calico and cannot be set')
}

// apiVersions people write for these kinds that the tools do not take, and what to write instead.
const API_VERSION_ADVICE: Readonly<Record<string, string>> = {
  'crd.projectcalico.org/v1': 'crd.projectcalico.org/v1 is Calico\'s internal storage API; write projectcalico.org/v3',
  'networking.k8s.io/v1beta1': 'NetworkPolicy moved to networking.k8s.io/v1',
  'extensions/v1beta1': 'NetworkPolicy moved to networking.k8s.io/v1'
}

function checkDocument (c: Checker, value: unknown): void {
  if (!isRecord(value)) {
    c.report([], `expected a resource (a mapping with apiVersion, kind and metadata), got ${describeType(value)}`)
    return
  }
  const { apiVersion, kind } = value
  if (isAbsent(apiVersion)) c.report(['apiVersion'], 'is required')
  else if (typeof apiVersion !== 'string') string(c, apiVersion, ['apiVersion'])
  if (isAbsent(kind)) c.report(['kind'], 'is required')
  else if (typeof kind !== 'string') string(c, kind, ['kind'])
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return

  const rule = resolveKind(c, apiVersion, kind)
  if (rule === undefined) return

  const fields: Record<string, Check> = { apiVersion: anyValue, kind: anyValue, metadata: metadata(rule.name, rule.namespaced, kind), ...(rule.fields ?? {}) }
  object(fields, { required: ['metadata', ...(rule.required ?? [])], open: rule.fields === undefined, hints: rule.hints })(c, value, [])
  rule.semantics?.(c, value)
}

function resolveKind (c: Checker, apiVersion: string, kind: string): KindRule | undefined {
  const group = KINDS[apiVersion]
  const rule = group?.[kind]
  if (rule !== undefined) return rule
  const servedBy = Object.keys(KINDS).filter(v => KINDS[v]?.[kind] !== undefined)
  if (group === undefined) {
    const advice = API_VERSION_ADVICE[apiVersion]
    const guess = servedBy.length > 0 ? closest(apiVersion, servedBy) ?? servedBy[0] : closest(apiVersion, Object.keys(KINDS))
    const hint = advice !== undefined ? ` (${advice})` : guess !== undefined ? ` (did you mean ${quote(guess)}?)` : ''
    c.report(['apiVersion'], `unknown apiVersion ${quote(apiVersion)}${hint}; shadowflow reads ${Object.keys(KINDS).join(', ')}`)
    if (servedBy.length === 0) reportUnknownKind(c, kind, Object.values(KINDS).flatMap(g => Object.keys(g)))
    return undefined
  }
  if (servedBy.length > 0) {
    c.report(['kind'], `kind ${kind} is not served by apiVersion ${apiVersion}; use apiVersion ${servedBy.join(' or ')}`)
    return undefined
  }
  reportUnknownKind(c, kind, Object.keys(group), apiVersion)
  return undefined
}

function reportUnknownKind (c: Checker, kind: string, candidates: readonly string[], apiVersion?: string): void {
  const all = [...new Set(candidates)]
  const hint = didYouMean(kind, all)
  const list = hint === '' ? `; ${apiVersion === undefined ? 'known kinds' : `kinds of ${apiVersion}`}: ${all.join(', ')}` : ''
  c.report(['kind'], `unknown kind ${quote(kind)}${hint}${list}`)
}

/** The apiVersion → kinds shadowflow accepts (for `--help`, docs and the test that keeps it in step with resources.ts). */
export const SUPPORTED_KINDS: Readonly<Record<string, readonly string[]>> = Object.freeze(
  Object.fromEntries(Object.entries(KINDS).map(([v, kinds]) => [v, Object.freeze(Object.keys(kinds))]))
)
