// Compiles one v3 rule into a list of checks over FlowFacts, built once per policy version: CIDRs parsed,
// port ranges expanded to numbers, selectors resolved to memoized matchers. Semantics follow Calico's rule
// conversion: a rule selector in a namespaced policy matches only entities of the policy's namespace unless a
// namespaceSelector widens it; `global()` as namespaceSelector matches non-namespaced entities; selector,
// namespaceSelector and serviceAccounts must hold for the same entity; notSelector excludes the address when
// any in-scope entity matches it.
import type { Entity, EndpointDirectory, ServiceEntity } from './endpoint-model.js'
import type { FlowFacts, FlowSide } from './flow-facts.js'
import { flowIpVersion } from './flow-facts.js'
import { cidrContains, parseCidr, type Cidr, type IpAddress } from './ip-address.js'
import { protocolNumber } from './protocol.js'
import type { EntityRule, IcmpFields, Labels, Port, Rule, RuleAction } from './resources.js'
import type { MemoizedSelector, SelectorMatchers } from './selector-matchers.js'
import { selectorUsesGlobal } from './selector/index.js'

type Check = (flow: FlowFacts) => boolean

/**
 * A test of one entity at one end that a rule's match depends on (its selector part or its notSelector part).
 * Equal `key`s are the same test. `namespace`, when set, says the test is false for every entity outside it.
 */
export interface EntityAtom {
  readonly key: string
  readonly namespace: string | undefined
  readonly test: (e: Entity) => boolean
}

/** A test of one end's address (nets or notNets); equal `key`s are the same test. */
export interface IpAtom {
  readonly key: string
  readonly test: (ip: IpAddress | undefined) => boolean
}

/**
 * Everything a rule's match reads of one end of a flow, besides that end's port (numeric port ranges) and the
 * flow's protocol, ICMP fields and IP version: the per-end verdict cache keys an end by exactly these. The
 * match is a function of (for each entity of the end, in order: its atom results and, with `namedPorts`, its
 * named ports), the address atom results, the ports and the flow fields — unless `services` is set (then it
 * also reads the end's endpoint and service directly, and is not cached).
 */
export interface EndReads {
  readonly entityAtoms: readonly EntityAtom[]
  readonly ipAtoms: readonly IpAtom[]
  readonly namedPorts: boolean
  readonly services: boolean
}

/** A rule ready to match flows. */
export interface CompiledRule {
  readonly action: RuleAction
  readonly index: number
  /** Set when the rule needs a field shadowflow cannot observe (`http`); such a rule never matches. */
  readonly unobservable: string | undefined
  readonly matches: (flow: FlowFacts) => boolean
  /** What `matches` reads of each end (see EndReads). */
  readonly reads: { readonly src: EndReads, readonly dst: EndReads }
}

interface MutableEndReads { entityAtoms: EntityAtom[], ipAtoms: IpAtom[], namedPorts: boolean, services: boolean }

const NO_READS: EndReads = Object.freeze({ entityAtoms: Object.freeze([]), ipAtoms: Object.freeze([]), namedPorts: false, services: false })

function newReads (): MutableEndReads { return { entityAtoms: [], ipAtoms: [], namedPorts: false, services: false } }

/** What rule compilation needs from the engine. */
export interface RuleCompileContext {
  readonly matchers: SelectorMatchers
  /** The directory current at evaluation time (it changes without recompiling rules). */
  readonly directory: () => EndpointDirectory
}

/** The labels of an entity's namespace, as namespaceSelectors see them (none for a non-namespaced entity). */
export function namespaceLabelsOf (ctx: RuleCompileContext): (e: Entity) => Labels {
  return e => e.namespace === undefined ? {} : ctx.directory().namespace(e.namespace)?.labels ?? {}
}

/** The labels of a pod's service account, as serviceAccount selectors see them (Calico's name label when unknown). */
export function serviceAccountLabelsOf (ctx: RuleCompileContext): (e: Entity) => Labels {
  return e => e.kind !== 'workload' ? {} : ctx.directory().serviceAccount(e.namespace, e.serviceAccount)?.labels ?? { 'projectcalico.org/name': e.serviceAccount }
}

interface PortSet { ranges: Array<[number, number]>, names: string[] }

function parsePorts (ports: readonly Port[]): PortSet {
  const set: PortSet = { ranges: [], names: [] }
  for (const p of ports) {
    if (typeof p === 'number') { set.ranges.push([p, p]); continue }
    const range = /^(\d+):(\d+)$/.exec(p)
    if (range !== null) set.ranges.push([Number(range[1]), Number(range[2])])
    else if (/^\d+$/.test(p)) set.ranges.push([Number(p), Number(p)])
    else set.names.push(p)
  }
  return set
}

function inScopeFactory (policyNamespace: string | undefined, namespaceSelector: MemoizedSelector | undefined, nsSelectorIsGlobal: boolean, ctx: RuleCompileContext): (e: Entity) => boolean {
  if (namespaceSelector === undefined) {
    return policyNamespace === undefined ? () => true : e => e.namespace === policyNamespace
  }
  // Calico rewrites a `global()` namespaceSelector to `!has(projectcalico.org/namespace)`: non-namespaced only.
  if (nsSelectorIsGlobal) return e => e.namespace === undefined
  const labelsOf = namespaceLabelsOf(ctx)
  return (e: Entity) => {
    if (e.namespace === undefined) return nsSelectorIsGlobal
    return namespaceSelector.matchesEntityNamespace(e, labelsOf)
  }
}

function portMatches (set: PortSet, side: FlowSide, flow: FlowFacts, scope: (e: Entity) => boolean): boolean {
  const port = side.port
  if (port === undefined) return false
  for (const [min, max] of set.ranges) if (port >= min && port <= max) return true
  if (set.names.length === 0) return false
  // A named port resolves against the endpoints at this end of the flow, as Calico's named-port IP sets do.
  for (const e of side.entities) {
    if (e.kind === 'networkset' || !scope(e)) continue
    for (const np of e.namedPorts) {
      if (np.port === port && np.protocol === flow.protocol && set.names.includes(np.name)) return true
    }
  }
  return false
}

function isBackendOf (service: ServiceEntity, side: FlowSide, checkPort: boolean, protocol: number): boolean {
  const ep = side.endpoint
  if (ep === undefined || ep.kind !== 'workload' || ep.namespace !== service.namespace || service.selector === undefined) return false
  for (const [k, v] of Object.entries(service.selector)) if (ep.labels[k] !== v) return false
  if (!checkPort) return true
  return service.ports.some(sp => sp.protocol === protocol && (typeof sp.targetPort === 'number'
    ? sp.targetPort === side.port
    : ep.namedPorts.some(np => np.name === sp.targetPort && np.port === side.port)))
}

function compileEntityRule (rule: EntityRule, which: 'src' | 'dst', policyNamespace: string | undefined, ctx: RuleCompileContext, reads: MutableEndReads): Check[] {
  const checks: Check[] = []
  const side = (f: FlowFacts): FlowSide => which === 'src' ? f.src : f.dst
  const toCidrs = (nets: readonly string[]): Cidr[] => nets.map(n => parseCidr(n)).filter((c): c is Cidr => c !== undefined)
  if (rule.nets !== undefined) {
    const cidrs = toCidrs(rule.nets)
    const test = (ip: IpAddress | undefined): boolean => ip !== undefined && cidrs.some(c => cidrContains(c, ip))
    reads.ipAtoms.push({ key: JSON.stringify(['nets', rule.nets]), test })
    checks.push(f => test(side(f).ip))
  }
  if (rule.notNets !== undefined) {
    const cidrs = toCidrs(rule.notNets)
    const test = (ip: IpAddress | undefined): boolean => ip === undefined || !cidrs.some(c => cidrContains(c, ip))
    reads.ipAtoms.push({ key: JSON.stringify(['notNets', rule.notNets]), test })
    checks.push(f => test(side(f).ip))
  }
  const nsSelector = rule.namespaceSelector === undefined ? undefined : ctx.matchers.get(rule.namespaceSelector)
  const nsIsGlobal = nsSelector !== undefined && selectorUsesGlobal(nsSelector.compiled.node)
  const inScope = inScopeFactory(policyNamespace, nsSelector, nsIsGlobal, ctx)
  // The scope's identity, for atom keys: a namespaceSelector replaces the policy's namespace (inScopeFactory).
  const scopeKey = nsSelector !== undefined ? ['nsSelector', nsSelector.compiled.canonical] : ['namespace', policyNamespace ?? null]
  const scopeNamespace = nsSelector === undefined ? policyNamespace : undefined
  const selector = rule.selector === undefined ? undefined : ctx.matchers.get(rule.selector)
  const saNames = rule.serviceAccounts?.names
  const saSelector = rule.serviceAccounts?.selector === undefined ? undefined : ctx.matchers.get(rule.serviceAccounts.selector)
  const hasServiceAccounts = rule.serviceAccounts !== undefined
  const saLabelsOf = serviceAccountLabelsOf(ctx)
  // As libcalico-go's getEndpointSelector: a notSelector in a namespaced policy also limits the rule to the
  // policy's namespace. Named ports resolve on the entities this positive selector matches (all when none).
  let positive: ((e: Entity) => boolean) | undefined
  if (selector !== undefined || nsSelector !== undefined || hasServiceAccounts || (rule.notSelector !== undefined && policyNamespace !== undefined)) {
    const entityMatches = (e: Entity): boolean => {
      if (!inScope(e)) return false
      if (selector !== undefined && !selector.matchesEntity(e)) return false
      if (hasServiceAccounts) {
        if (e.kind !== 'workload') return false
        if (saNames !== undefined && saNames.length > 0 && !saNames.includes(e.serviceAccount)) return false
        if (saSelector !== undefined && !saSelector.matchesEntityServiceAccount(e, saLabelsOf)) return false
      }
      return true
    }
    checks.push(f => side(f).entities.some(entityMatches))
    positive = entityMatches
    reads.entityAtoms.push({
      key: JSON.stringify(['selector', scopeKey, selector?.compiled.canonical ?? null, hasServiceAccounts, saNames ?? null, saSelector?.compiled.canonical ?? null]),
      namespace: scopeNamespace,
      test: entityMatches
    })
  }
  const portScope = positive ?? (() => true)
  if (rule.notSelector !== undefined) {
    const notSelector = ctx.matchers.get(rule.notSelector)
    const excluded = (e: Entity): boolean => inScope(e) && notSelector.matchesEntity(e)
    reads.entityAtoms.push({ key: JSON.stringify(['notSelector', scopeKey, notSelector.compiled.canonical]), namespace: scopeNamespace, test: excluded })
    checks.push(f => !side(f).entities.some(excluded))
  }
  if (rule.ports !== undefined) {
    const set = parsePorts(rule.ports)
    if (set.names.length > 0) reads.namedPorts = true
    checks.push(f => portMatches(set, side(f), f, portScope))
  }
  if (rule.notPorts !== undefined) {
    const set = parsePorts(rule.notPorts)
    if (set.names.length > 0) reads.namedPorts = true
    checks.push(f => !portMatches(set, side(f), f, portScope))
  }
  if (rule.services !== undefined) {
    reads.services = true
    const { name } = rule.services
    const namespace = rule.services.namespace ?? policyNamespace ?? 'default'
    checks.push(f => {
      const svc = ctx.directory().service(namespace, name)
      if (svc === undefined) return false
      const s = side(f)
      // Destination: the cluster IP itself, or a backend pod on one of the target ports (after DNAT).
      if (which === 'dst') return s.service === svc || isBackendOf(svc, s, true, f.protocol)
      return isBackendOf(svc, s, false, f.protocol)
    })
  }
  return checks
}

function icmpMatches (icmp: IcmpFields, flow: FlowFacts): boolean {
  if (icmp.type !== undefined && flow.icmpType !== icmp.type) return false
  if (icmp.code !== undefined && flow.icmpCode !== icmp.code) return false
  return true
}

/** Compiles rule number `index` of a policy in `policyNamespace` (undefined for global policies). */
export function compileRule (rule: Rule, index: number, policyNamespace: string | undefined, ctx: RuleCompileContext): CompiledRule {
  if (rule.http !== undefined) return { action: rule.action, index, unobservable: 'http', matches: () => false, reads: { src: NO_READS, dst: NO_READS } }
  const checks: Check[] = []
  const src = newReads()
  const dst = newReads()
  if (rule.protocol !== undefined) {
    const n = protocolNumber(rule.protocol)
    checks.push(f => f.protocol === n)
  }
  if (rule.notProtocol !== undefined) {
    const n = protocolNumber(rule.notProtocol)
    checks.push(f => f.protocol !== n)
  }
  if (rule.icmp !== undefined) { const icmp = rule.icmp; checks.push(f => icmpMatches(icmp, f)) }
  if (rule.notICMP !== undefined) { const icmp = rule.notICMP; checks.push(f => !icmpMatches(icmp, f)) }
  if (rule.ipVersion !== undefined) { const v = rule.ipVersion; checks.push(f => flowIpVersion(f) === v) }
  if (rule.source !== undefined) checks.push(...compileEntityRule(rule.source, 'src', policyNamespace, ctx, src))
  if (rule.destination !== undefined) checks.push(...compileEntityRule(rule.destination, 'dst', policyNamespace, ctx, dst))
  const matches = checks.length === 0
    ? () => true
    : (flow: FlowFacts) => {
        for (let i = 0; i < checks.length; i++) if (!(checks[i] as Check)(flow)) return false
        return true
      }
  return { action: rule.action, index, unobservable: undefined, matches, reads: { src, dst } }
}
