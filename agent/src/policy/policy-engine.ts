// The two pipelines and their evaluation. Compile once, evaluate many:
//  - each policy is compiled once per version (an update recompiles only policies whose content changed);
//  - each endpoint's applicable policies per tier and direction are computed on first use and kept until the
//    policies or the directory change;
//  - selector results are remembered per entity (SelectorMatchers);
//  - whole verdicts are cached per (source, destination, protocol, ports) in a bounded map;
//  - on a miss, each end's verdict is cached per (plan, what the plan's rules observe of both ends, flow fields)
//    (end-verdict-cache.ts), so flows between different pods the rules cannot tell apart share one evaluation.
// The enforced pipeline holds the non-staged policies. The pending pipeline is, by default, Calico's: the
// enforced set plus every staged policy with stagedAction Set, as an additional policy (Delete is ignored).
// `replace` mode models "apply the staged policy": Set replaces the enforced policy of the same identity and
// Delete removes it.
import type { EndpointDirectory, Entity, PolicyEndpoint } from './endpoint-model.js'
import type { FlowEndInput, FlowFacts, FlowInput, FlowSide } from './flow-facts.js'
import type { IpAddress } from './ip-address.js'
import { compilePolicy, comparePolicies, type CompiledPolicy } from './compile-policy.js'
import type { RuleCompileContext } from './compile-rule.js'
import { ENTRY_DENIES, ENTRY_UNOBSERVABLE, EndVerdictCache, flowFieldsOf, type EndPlan, type TierPlan } from './end-verdict-cache.js'
import { type NormalizedPolicy, policyIdentity } from './normalized-policy.js'
import { ENFORCED_DST_DENIES, ENFORCED_SRC_DENIES, PENDING_DST_DENIES, PENDING_SRC_DENIES, triggerOf, type EndpointVerdict, type FlowVerdicts, type PipelineVerdict, type PolicyHit } from './policy-hit.js'
import type { Tier } from './resources.js'
import { SelectorMatchers } from './selector-matchers.js'
import { buildTiers, type TierInfo } from './tiers.js'
import { VerdictCache } from './verdict-cache.js'

/** How staged policies enter the pending pipeline. */
export type StagedMode = 'calico' | 'replace'

export interface PolicyEngineOptions {
  stagedMode?: StagedMode
  /** Bound of the verdict cache (entries); 0 disables it. */
  verdictCacheSize?: number
  /** Bound of the per-end verdict cache (entries and end classes together); 0 disables it. */
  endVerdictCacheSize?: number
}

export type { FlowEndInput, FlowInput } from './flow-facts.js'

/** Which ends of a flow to evaluate: egress of the source, ingress of the destination, or both. */
export type EvaluatedEnds = 'src' | 'dst' | 'both'

interface EndpointPlan { readonly ingress: readonly TierPlan[], readonly egress: readonly TierPlan[] }

/** A pipeline: the ordered tiers and their ordered policies. */
export interface PipelineView {
  readonly tiers: ReadonlyArray<{ readonly tier: TierInfo, readonly policies: readonly NormalizedPolicy[] }>
}

interface PipelineTier {
  readonly tier: TierInfo
  /** Every policy of the tier, in evaluation order. */
  readonly policies: readonly CompiledPolicy[]
  /** Global policies (they may select any endpoint), in evaluation order. */
  readonly global: readonly CompiledPolicy[]
  /** Namespaced policies by namespace: an endpoint only ever needs its own namespace's list. */
  readonly byNamespace: ReadonlyMap<string, readonly CompiledPolicy[]>
  /** Global and the namespace's policies merged in evaluation order, by namespace (filled on first use). */
  readonly candidates: Map<string, readonly CompiledPolicy[]>
}

class Pipeline {
  readonly tiers: readonly PipelineTier[]
  // Indexed by endpoint id (dense), cheaper than a Map on the per-flow path.
  private plans: Array<EndpointPlan | undefined> = []
  private readonly rank = new Map<CompiledPolicy, number>()

  constructor (tiers: readonly TierInfo[], policies: readonly CompiledPolicy[]) {
    const byTier = new Map<string, CompiledPolicy[]>()
    for (const p of policies) {
      const list = byTier.get(p.policy.ref.tier) ?? []
      list.push(p)
      byTier.set(p.policy.ref.tier, list)
    }
    const built: PipelineTier[] = []
    for (const tier of tiers) {
      const sorted = (byTier.get(tier.name) ?? []).sort((a, b) => comparePolicies(a.policy, b.policy))
      if (sorted.length === 0) continue
      const byNamespace = new Map<string, CompiledPolicy[]>()
      const global: CompiledPolicy[] = []
      for (const p of sorted) {
        this.rank.set(p, this.rank.size)
        const ns = p.policy.ref.namespace
        if (ns === undefined) { global.push(p); continue }
        const list = byNamespace.get(ns) ?? []
        list.push(p)
        byNamespace.set(ns, list)
      }
      built.push({ tier, policies: sorted, global, byNamespace, candidates: new Map() })
    }
    this.tiers = built
  }

  planFor (endpoint: PolicyEndpoint): EndpointPlan {
    let plan = this.plans[endpoint.id]
    if (plan === undefined) {
      const ingress: TierPlan[] = []
      const egress: TierPlan[] = []
      for (const t of this.tiers) {
        let inPolicies: CompiledPolicy[] | undefined
        let outPolicies: CompiledPolicy[] | undefined
        for (const p of this.candidates(t, endpoint)) {
          if (!(p.appliesToIngress || p.appliesToEgress) || !p.selects(endpoint)) continue
          if (p.appliesToIngress) (inPolicies ??= []).push(p)
          if (p.appliesToEgress) (outPolicies ??= []).push(p)
        }
        if (inPolicies !== undefined) ingress.push({ tier: t.tier, policies: inPolicies })
        if (outPolicies !== undefined) egress.push({ tier: t.tier, policies: outPolicies })
      }
      plan = { ingress, egress }
      this.plans[endpoint.id] = plan
    }
    return plan
  }

  /** The policies of a tier that may select an endpoint, in evaluation order (merged once per namespace). */
  private candidates (t: PipelineTier, endpoint: PolicyEndpoint): readonly CompiledPolicy[] {
    // Namespaced policies only select pods of their namespace, so only that namespace's list is tested.
    if (endpoint.kind !== 'workload') return t.global
    let merged = t.candidates.get(endpoint.namespace)
    if (merged === undefined) {
      const local = t.byNamespace.get(endpoint.namespace)
      merged = local === undefined ? t.global : [...t.global, ...local].sort((a, b) => (this.rank.get(a) ?? 0) - (this.rank.get(b) ?? 0))
      t.candidates.set(endpoint.namespace, merged)
    }
    return merged
  }

  clearPlans (): void { this.plans = [] }
}

/** Whether two tier plans evaluate identically (same tiers, same policy objects in the same order). */
function samePlans (a: readonly TierPlan[], b: readonly TierPlan[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as TierPlan
    const y = b[i] as TierPlan
    if (x.tier !== y.tier || x.policies.length !== y.policies.length) return false
    for (let j = 0; j < x.policies.length; j++) if (x.policies[j] !== y.policies[j]) return false
  }
  return true
}

/**
 * The shared plans (EndVerdictCache.plan) of one endpoint per pipeline and direction, for the per-end cache:
 * equal tiers and policies give the same object, so `pendingIngress === enforcedIngress` says no staged policy
 * changes this endpoint's ingress and the pending verdict is the enforced one.
 */
interface EndPlans {
  readonly enforcedIngress: EndPlan
  readonly enforcedEgress: EndPlan
  readonly pendingIngress: EndPlan
  readonly pendingEgress: EndPlan
}

/** Both pipelines' plans of one endpoint, and whether they coincide per direction. */
interface PlanPair {
  readonly enforced: EndpointPlan
  readonly pending: EndpointPlan
  /** True when no staged policy changes this endpoint's ingress: the pending verdict is the enforced one. */
  readonly sameIngress: boolean
  readonly sameEgress: boolean
  /** Built on the first cached evaluation (evaluateUncached never needs them). */
  ends: EndPlans | undefined
}

const NO_HITS: readonly PolicyHit[] = Object.freeze([])
/** PolicyEngine.endRows: words per endpoint, and what they hold (see there). */
const ROW_WORDS = 16
const ROW_STATE = 0
const ROW_IPV4 = 1
const ROW_PLANS = 2
const ROW_CLASSES = 6
const ROW_CLASS_GENERATION = 10
/** ROW_STATE values (0: not yet known). */
const PLAIN_IPV4 = 4
const PLAIN_IPV6 = 6
const NOT_PLAIN = 1
const NO_ENTITIES: readonly Entity[] = Object.freeze([])
const NO_UNOBSERVABLE: readonly string[] = Object.freeze([])

/** Evaluates one direction on one endpoint through a tier plan (design: tiers, rules, end of tier, profiles). */
function evaluateEndpoint (plans: readonly TierPlan[], direction: 'ingress' | 'egress', flow: FlowFacts, endpoint: PolicyEndpoint, unobservable: string[]): EndpointVerdict {
  const hits: PolicyHit[] = []
  tiers: for (const { tier, policies } of plans) {
    for (const compiled of policies) {
      const rules = direction === 'ingress' ? compiled.ingress : compiled.egress
      for (const rule of rules) {
        if (rule.unobservable !== undefined) { if (!unobservable.includes(rule.unobservable)) unobservable.push(rule.unobservable); continue }
        if (rule.action === 'Log' || !rule.matches(flow)) continue
        const ref = compiled.policy.ref
        hits.push({ kind: ref.kind, namespace: ref.namespace ?? '', name: ref.name, tier: ref.tier, action: rule.action, policyIndex: hits.length, ruleIndex: rule.index })
        if (rule.action === 'Pass') continue tiers
        return { action: rule.action, hits }
      }
    }
    // Policies applied and none decided: the tier's default action, reported as an end-of-tier hit.
    const first = (policies[0] as CompiledPolicy).policy.ref
    hits.push({ kind: 'EndOfTier', namespace: '', name: '', tier: tier.name, action: tier.defaultAction, policyIndex: hits.length, ruleIndex: -1, trigger: triggerOf(first) })
    if (tier.defaultAction === 'Deny') return { action: 'Deny', hits }
  }
  if (endpoint.kind === 'workload') {
    // Calico gives every Kubernetes namespace a profile that allows everything.
    hits.push({ kind: 'Profile', namespace: '', name: `kns.${endpoint.namespace}`, tier: '__PROFILE__', action: 'Allow', policyIndex: hits.length, ruleIndex: 0 })
    return { action: 'Allow', hits }
  }
  if (endpoint.profiles.includes('projectcalico-default-allow')) {
    hits.push({ kind: 'Profile', namespace: '', name: 'projectcalico-default-allow', tier: '__PROFILE__', action: 'Allow', policyIndex: hits.length, ruleIndex: 0 })
    return { action: 'Allow', hits }
  }
  // A host endpoint with no allowing profile drops what no policy allowed.
  hits.push({ kind: 'EndOfTier', namespace: '', name: '', tier: '__PROFILE__', action: 'Deny', policyIndex: hits.length, ruleIndex: -1 })
  return { action: 'Deny', hits }
}

/** Counters of the engine's caches and compilations. */
export interface PolicyEngineStats {
  policiesCompiled: number
  policiesReused: number
  verdictCacheHits: number
  verdictCacheMisses: number
  verdictCacheEvictions: number
  /** Per-end verdict cache (one lookup per end and pipeline evaluated on a whole-verdict cache miss). */
  endCacheHits: number
  endCacheMisses: number
  endCacheEvictions: number
  endCacheEntries: number
  selectors: number
}

/** The enforced and pending pipelines over an endpoint directory. */
export class PolicyEngine {
  readonly stagedMode: StagedMode
  private directory: EndpointDirectory
  private readonly matchers = new SelectorMatchers()
  private readonly ctx: RuleCompileContext
  private readonly compiledByKey = new Map<string, { version: string, compiled: CompiledPolicy }>()
  private policies: readonly NormalizedPolicy[] = []
  private tierResources: readonly Tier[] = []
  private tiers: TierInfo[] = buildTiers([], [])
  private enforced: Pipeline = new Pipeline(this.tiers, [])
  private pending: Pipeline = new Pipeline(this.tiers, [])
  private readonly verdictCache: VerdictCache
  private readonly ends: EndVerdictCache
  private usesSourcePorts = false
  private planPairs: Array<PlanPair | undefined> = []
  /**
   * The fast path's row per endpoint id, ROW_WORDS words (64 bytes, read together): whether an end at the endpoint's first
   * address is plain (ROW_STATE, ROW_IPV4), the indexes + 1 of its shared plans (ROW_PLANS: enforced egress,
   * pending egress, enforced ingress, pending ingress; 0 not yet known) and its class + 1 under each plan's local
   * key (ROW_CLASSES), valid for the per-end cache's generation + 1 in ROW_CLASS_GENERATION.
   */
  private endRows = new Int32Array(0)
  private readonly counters: PolicyEngineStats = { policiesCompiled: 0, policiesReused: 0, verdictCacheHits: 0, verdictCacheMisses: 0, verdictCacheEvictions: 0, endCacheHits: 0, endCacheMisses: 0, endCacheEvictions: 0, endCacheEntries: 0, selectors: 0 }

  constructor (directory: EndpointDirectory, options: PolicyEngineOptions = {}) {
    this.stagedMode = options.stagedMode ?? 'calico'
    this.verdictCache = new VerdictCache(options.verdictCacheSize ?? 1 << 20)
    this.ends = new EndVerdictCache(options.endVerdictCacheSize ?? 1 << 20)
    this.directory = directory
    this.endRows = new Int32Array(directory.entityCount * ROW_WORDS)
    this.matchers.reset(directory.entityCount)
    this.ctx = { matchers: this.matchers, directory: () => this.directory }
  }

  /** Replaces the policy set; only policies whose content changed are recompiled. */
  setPolicies (policies: readonly NormalizedPolicy[], tiers: readonly Tier[] = this.tierResources): void {
    this.policies = policies
    this.tierResources = tiers
    const seen = new Set<string>()
    const compiled: CompiledPolicy[] = []
    for (const p of policies) {
      const key = `${p.ref.kind}/${p.ref.namespace ?? ''}/${p.ref.name}`
      seen.add(key)
      const version = JSON.stringify([p.ref, p.order, p.selector, p.namespaceSelector, p.serviceAccountSelector, p.types, p.ingress, p.egress, p.stagedAction])
      const cached = this.compiledByKey.get(key)
      if (cached !== undefined && cached.version === version) {
        this.counters.policiesReused++
        compiled.push(cached.compiled)
        continue
      }
      const c = compilePolicy(p, this.ctx)
      this.counters.policiesCompiled++
      this.compiledByKey.set(key, { version, compiled: c })
      compiled.push(c)
    }
    for (const key of this.compiledByKey.keys()) if (!seen.has(key)) this.compiledByKey.delete(key)
    this.usesSourcePorts = policies.some(p => [...p.ingress, ...p.egress].some(r => r.source?.ports !== undefined || r.source?.notPorts !== undefined))
    this.tiers = buildTiers(tiers, policies.map(p => p.ref.tier))
    this.enforced = new Pipeline(this.tiers, compiled.filter(c => !c.policy.staged))
    this.pending = new Pipeline(this.tiers, this.pendingSet(compiled))
    this.ends.setPolicies(compiled, this.directory.entityCount)
    this.planPairs = []
    this.endRows = new Int32Array(this.directory.entityCount * ROW_WORDS)
    this.verdictCache.clear()
  }

  private pendingSet (compiled: readonly CompiledPolicy[]): CompiledPolicy[] {
    const enforced = compiled.filter(c => !c.policy.staged)
    const staged = compiled.filter(c => c.policy.staged)
    if (this.stagedMode === 'calico') return [...enforced, ...staged.filter(c => c.policy.stagedAction === 'Set')]
    // Replace mode: a staged policy stands for the enforced policy of the same kind/namespace/name/tier.
    const identity = (c: CompiledPolicy): string => `${policyIdentity(c.policy)}/${c.policy.ref.tier}`
    const replaced = new Set(staged.map(identity))
    return [...enforced.filter(c => !replaced.has(identity(c))), ...staged.filter(c => c.policy.stagedAction === 'Set')]
  }

  /** Replaces the endpoint directory (inventory changed); remembered selector results and plans are dropped. */
  setDirectory (directory: EndpointDirectory): void {
    this.directory = directory
    this.matchers.reset(directory.entityCount)
    this.enforced.clearPlans()
    this.pending.clearPlans()
    this.ends.setDirectory(directory.entityCount)
    this.planPairs = []
    this.endRows = new Int32Array(directory.entityCount * ROW_WORDS)
    this.verdictCache.clear()
  }

  /** The policies currently loaded (both pipelines' input). */
  get policySet (): readonly NormalizedPolicy[] { return this.policies }

  /** The ordered tiers and policies of a pipeline, for `/debug/policies` and `explain`. */
  view (pipeline: 'enforced' | 'pending'): PipelineView {
    const p = pipeline === 'enforced' ? this.enforced : this.pending
    return { tiers: p.tiers.map(t => ({ tier: t.tier, policies: t.policies.map(c => c.policy) })) }
  }

  /** Counters for metrics and benchmarks. */
  stats (): PolicyEngineStats {
    const ends = this.ends.counters
    return { ...this.counters, verdictCacheEvictions: this.verdictCache.evictions, endCacheHits: ends.hits, endCacheMisses: ends.misses, endCacheEvictions: ends.evictions, endCacheEntries: ends.entries, selectors: this.matchers.size }
  }

  private side (end: FlowEndInput, isDestination: boolean): FlowSide {
    const ip = end.ip ?? end.endpoint?.ips[0]
    let entities = ip === undefined ? NO_ENTITIES : this.directory.entitiesForIp(ip)
    // The directory lists the owning endpoint first, so one lookup serves both.
    const owner = entities[0]
    const endpoint = end.endpoint ?? (owner !== undefined && owner.kind !== 'networkset' ? owner : undefined)
    if (endpoint !== undefined && owner !== endpoint && !entities.includes(endpoint)) entities = [endpoint, ...entities]
    const service = isDestination && ip !== undefined && endpoint === undefined ? this.directory.serviceForIp(ip) : undefined
    return { ip, endpoint, entities, port: end.port, service }
  }

  /**
   * Whether some rule matches source ports: then a flow's verdict depends on its source port too (callers that
   * cache verdicts per flow shape must key them by it).
   */
  get readsSourcePorts (): boolean { return this.usesSourcePorts }

  /**
   * Evaluates a flow in both pipelines (cached). `ends` 'src' or 'dst' evaluates that end only — the egress of the
   * source or the ingress of the destination; the other end's traces are then empty and the actions are that
   * end's alone (for a caller that reports one end and completes the verdicts only if someone asks).
   */
  evaluate (flow: FlowInput, ends: EvaluatedEnds = 'both'): FlowVerdicts {
    if (ends !== 'both') return this.evaluateFlow(flow, this.ends.enabled, ends)
    if (!this.verdictCache.enabled) return this.evaluateFlow(flow, this.ends.enabled)
    const cached = this.verdictCache.get(flow, this.usesSourcePorts)
    if (cached !== undefined) { this.counters.verdictCacheHits++; return cached }
    this.counters.verdictCacheMisses++
    const verdicts = this.evaluateFlow(flow, this.ends.enabled)
    this.verdictCache.set(flow, this.usesSourcePorts, verdicts)
    return verdicts
  }

  /** Evaluates a flow in both pipelines without the verdict caches (`ends` as for evaluate). */
  evaluateUncached (flow: FlowInput, ends: EvaluatedEnds = 'both'): FlowVerdicts {
    return this.evaluateFlow(flow, false, ends)
  }

  private evaluateFlow (flow: FlowInput, endCache: boolean, ends: EvaluatedEnds = 'both'): FlowVerdicts {
    if (endCache) {
      const verdicts = this.evaluatePlainEnds(flow, ends)
      if (verdicts !== undefined) return verdicts
    }
    const facts = this.factsOf(flow)
    const unobservable: string[] = []
    // Egress is evaluated on the source endpoint, ingress on the destination; both must allow. Where no staged
    // policy touches an end, its pending evaluation is the enforced one and is not repeated.
    const srcEp = facts.src.endpoint
    const dstEp = facts.dst.endpoint
    const srcPair = srcEp === undefined || ends === 'dst' ? undefined : this.planPair(srcEp)
    const dstPair = dstEp === undefined || ends === 'src' ? undefined : this.planPair(dstEp)
    let srcEnforced: EndpointVerdict | undefined
    let dstEnforced: EndpointVerdict | undefined
    let srcPending: EndpointVerdict | undefined
    let dstPending: EndpointVerdict | undefined
    if (endCache) {
      const srcPlans = srcPair === undefined ? undefined : this.endPlans(srcPair)
      const dstPlans = dstPair === undefined ? undefined : this.endPlans(dstPair)
      srcEnforced = srcPlans === undefined ? undefined : this.cachedEnd(srcPlans.enforcedEgress, facts, srcEp as PolicyEndpoint, unobservable)
      dstEnforced = dstPlans === undefined ? undefined : this.cachedEnd(dstPlans.enforcedIngress, facts, dstEp as PolicyEndpoint, unobservable)
      srcPending = srcPlans === undefined ? undefined : srcPlans.pendingEgress === srcPlans.enforcedEgress ? srcEnforced : this.cachedEnd(srcPlans.pendingEgress, facts, srcEp as PolicyEndpoint, unobservable)
      dstPending = dstPlans === undefined ? undefined : dstPlans.pendingIngress === dstPlans.enforcedIngress ? dstEnforced : this.cachedEnd(dstPlans.pendingIngress, facts, dstEp as PolicyEndpoint, unobservable)
    } else {
      srcEnforced = srcPair === undefined ? undefined : evaluateEndpoint(srcPair.enforced.egress, 'egress', facts, srcEp as PolicyEndpoint, unobservable)
      dstEnforced = dstPair === undefined ? undefined : evaluateEndpoint(dstPair.enforced.ingress, 'ingress', facts, dstEp as PolicyEndpoint, unobservable)
      srcPending = srcPair === undefined ? undefined : srcPair.sameEgress ? srcEnforced : evaluateEndpoint(srcPair.pending.egress, 'egress', facts, srcEp as PolicyEndpoint, unobservable)
      dstPending = dstPair === undefined ? undefined : dstPair.sameIngress ? dstEnforced : evaluateEndpoint(dstPair.pending.ingress, 'ingress', facts, dstEp as PolicyEndpoint, unobservable)
    }
    // Nearly every flow meets no unobservable field: one shared empty list instead of one per cached verdict.
    return {
      enforced: combine(srcEnforced, dstEnforced),
      pending: combine(srcPending, dstPending),
      unobservable: unobservable.length === 0 ? NO_UNOBSERVABLE : unobservable,
      endDenies: (srcEnforced?.action === 'Deny' ? ENFORCED_SRC_DENIES : 0) | (dstEnforced?.action === 'Deny' ? ENFORCED_DST_DENIES : 0) |
        (srcPending?.action === 'Deny' ? PENDING_SRC_DENIES : 0) | (dstPending?.action === 'Deny' ? PENDING_DST_DENIES : 0)
    }
  }

  private factsOf (flow: FlowInput): FlowFacts {
    return {
      protocol: flow.protocol,
      icmpType: flow.icmpType,
      icmpCode: flow.icmpCode,
      src: this.side(flow.src, false),
      dst: this.side(flow.dst, true)
    }
  }

  /**
   * The per-end cache's fast path, for the common flow: both ends are endpoints at their own first address (in no
   * network set), no ICMP fields, no source-port-dependent rules, every plan cacheable. The same verdicts as the
   * general path (same classes, same entries), without building the flow's facts unless an entry is missing.
   * Everything per flow is read from arrays by number, not objects: each end's row (endRows: address check, plan
   * indexes, local classes), the peer's class by entity id, the entry number from the cache's one table, the
   * entry's bits and hits by number. (Each object read here was a cache miss: endpoints, addresses, plans and
   * entries are spread over the heap and the flow tables between two new flows evict them.) Undefined when the
   * flow is not such a flow (the general path then evaluates it).
   */
  private evaluatePlainEnds (flow: FlowInput, ends: EvaluatedEnds): FlowVerdicts | undefined {
    if (flow.icmpType !== undefined || flow.icmpCode !== undefined || (this.usesSourcePorts && flow.src.port !== undefined)) return undefined
    const srcRow = this.plainRow(flow.src)
    if (srcRow < 0) return undefined
    const dstRow = this.plainRow(flow.dst)
    if (dstRow < 0) return undefined
    const rows = this.endRows
    const version = rows[srcRow + ROW_STATE]
    if (rows[dstRow + ROW_STATE] !== version) return undefined
    const fields = flowFieldsOf(flow.protocol, flow.dst.port, version === PLAIN_IPV4 ? 4 : 6)
    const cache = this.ends
    if (fields === undefined || !cache.reserve()) return undefined
    const src = flow.src.endpoint as PolicyEndpoint
    const dst = flow.dst.endpoint as PolicyEndpoint
    // Up to four lookups: source egress (enforced, then pending if its plan differs), destination ingress (same).
    let n = 0
    if (ends !== 'dst') {
      n = this.addLookup(n, srcRow, 0, src, dst)
      if (n >= 0 && rows[srcRow + ROW_PLANS + 1] !== rows[srcRow + ROW_PLANS]) n = this.addLookup(n, srcRow, 1, src, dst)
      if (n < 0) return undefined
    }
    const dstFirst = n
    if (ends !== 'src') {
      n = this.addLookup(n, dstRow, 2, dst, src)
      if (n >= 0 && rows[dstRow + ROW_PLANS + 3] !== rows[dstRow + ROW_PLANS + 2]) n = this.addLookup(n, dstRow, 3, dst, src)
      if (n < 0) return undefined
    }
    // Every class is known: look the entries up, evaluating (once, on the facts built then) what is missing.
    const lookups = this.lookups
    const found = this.found
    let facts: FlowFacts | undefined
    for (let i = 0; i < n; i++) {
      const plan = lookups[3 * i] as number
      const local = lookups[3 * i + 1] as number
      const peer = lookups[3 * i + 2] as number
      let entry = cache.find(plan, local, peer, fields)
      if (entry >= 0) cache.counters.hits++
      else {
        cache.counters.misses++
        facts ??= this.factsOf(flow)
        const own: string[] = []
        const endPlan = cache.planAt(plan)
        entry = cache.storeFound(endPlan, local, peer, fields, evaluateEndpoint(endPlan.tiers, endPlan.direction, facts, i < dstFirst ? src : dst, own), own)
      }
      found[i] = entry
    }
    // Entry numbers in the general path's roles (-1: that end is not evaluated).
    const srcEnforced = dstFirst > 0 ? found[0] as number : -1
    const srcPending = dstFirst > 1 ? found[1] as number : srcEnforced
    const dstEnforced = n > dstFirst ? found[dstFirst] as number : -1
    const dstPending = n > dstFirst + 1 ? found[dstFirst + 1] as number : dstEnforced
    const se = entryBits(cache, srcEnforced)
    const de = entryBits(cache, dstEnforced)
    const sp = entryBits(cache, srcPending)
    const dp = entryBits(cache, dstPending)
    let unobservable: string[] | undefined
    if (((se | de | sp | dp) & ENTRY_UNOBSERVABLE) !== 0) {
      // In the general path's order: source enforced, destination enforced, source pending, destination pending.
      unobservable = []
      for (const e of [srcEnforced, dstEnforced, srcPending, dstPending]) {
        if (e < 0) continue
        for (const u of cache.entryAt(e).unobservable) if (!unobservable.includes(u)) unobservable.push(u)
      }
    }
    return {
      enforced: { action: ((se | de) & ENTRY_DENIES) !== 0 ? 'Deny' : 'Allow', src: entryHits(cache, srcEnforced), dst: entryHits(cache, dstEnforced) },
      pending: { action: ((sp | dp) & ENTRY_DENIES) !== 0 ? 'Deny' : 'Allow', src: entryHits(cache, srcPending), dst: entryHits(cache, dstPending) },
      unobservable: unobservable ?? NO_UNOBSERVABLE,
      endDenies: ((se & ENTRY_DENIES) !== 0 ? ENFORCED_SRC_DENIES : 0) | ((de & ENTRY_DENIES) !== 0 ? ENFORCED_DST_DENIES : 0) |
        ((sp & ENTRY_DENIES) !== 0 ? PENDING_SRC_DENIES : 0) | ((dp & ENTRY_DENIES) !== 0 ? PENDING_DST_DENIES : 0)
    }
  }

  /** Scratch of evaluatePlainEnds: up to four lookups as (plan index, local class, peer class), and their entries. */
  private readonly lookups = new Int32Array(12)
  private readonly found = new Int32Array(4)

  /**
   * Files lookup `n` — the local end's row and which of its plans (0–3, as in ROW_PLANS), the peer — and returns
   * n + 1, or -1 when it cannot be cached (a plan reading services, a class bound reached).
   */
  private addLookup (n: number, row: number, which: number, local: PolicyEndpoint, peer: PolicyEndpoint): number {
    const rows = this.endRows
    const cache = this.ends
    let planPlusOne = rows[row + ROW_PLANS + which] as number
    if (planPlusOne === 0) {
      const plans = this.endPlans(this.planPair(local))
      rows[row + ROW_PLANS] = plans.enforcedEgress.index + 1
      rows[row + ROW_PLANS + 1] = plans.pendingEgress.index + 1
      rows[row + ROW_PLANS + 2] = plans.enforcedIngress.index + 1
      rows[row + ROW_PLANS + 3] = plans.pendingIngress.index + 1
      planPlusOne = rows[row + ROW_PLANS + which] as number
    }
    const plan = planPlusOne - 1
    if (!cache.planIsCacheable(plan)) return -1
    // The local end's class for this plan, remembered in its row for the cache's generation.
    const generation = cache.entriesGeneration + 1
    if (rows[row + ROW_CLASS_GENERATION] !== generation) {
      rows.fill(0, row + ROW_CLASSES, row + ROW_CLASSES + 4)
      rows[row + ROW_CLASS_GENERATION] = generation
    }
    let localClass = (rows[row + ROW_CLASSES + which] as number) - 1
    if (localClass < 0) {
      const token = cache.endpointClass(cache.planAt(plan).local, local, true)
      if (token === undefined) return -1
      localClass = token
      rows[row + ROW_CLASSES + which] = token + 1
    }
    const peerClass = cache.endpointClass(cache.planPeer(plan), peer, false)
    if (peerClass === undefined) return -1
    const lookups = this.lookups
    lookups[3 * n] = plan
    lookups[3 * n + 1] = localClass
    lookups[3 * n + 2] = peerClass
    return n + 1
  }

  /**
   * The offset of an end's row in endRows when the end is an endpoint at its own first address, in no network
   * set (what side() would list for it is then exactly the endpoint, so classes by entity id hold); else -1.
   */
  private plainRow (end: FlowEndInput): number {
    const endpoint = end.endpoint
    if (endpoint === undefined) return -1
    const row = endpoint.id * ROW_WORDS
    if (row >= this.endRows.length) return -1
    const rows = this.endRows
    let state = rows[row + ROW_STATE] as number
    if (state === 0) {
      const first = endpoint.ips[0]
      const entities = first === undefined ? [] : this.directory.entitiesForIp(first)
      state = first === undefined || entities.length !== 1 || entities[0] !== endpoint ? NOT_PLAIN : first.version === 4 ? PLAIN_IPV4 : PLAIN_IPV6
      rows[row + ROW_STATE] = state
      if (state === PLAIN_IPV4) rows[row + ROW_IPV4] = ((first as IpAddress).value as number) | 0
    }
    if (state === NOT_PLAIN) return -1
    const ip = end.ip
    if (ip === undefined) return row
    if (state === PLAIN_IPV4) return ip.version === 4 && (ip.value | 0) === rows[row + ROW_IPV4] ? row : -1
    const first = endpoint.ips[0] as IpAddress
    return ip.version === 6 && ip.value === first.value ? row : -1
  }

  /** One end's verdict through the per-end cache; unobservable fields met are merged as a fresh evaluation would. */
  private cachedEnd (plan: EndPlan, facts: FlowFacts, endpoint: PolicyEndpoint, unobservable: string[]): EndpointVerdict {
    const egress = plan.direction === 'egress'
    const cached = this.ends.get(plan, facts, egress ? facts.src : facts.dst, egress ? facts.dst : facts.src, endpoint, this.usesSourcePorts)
    if (cached !== undefined) {
      this.ends.counters.hits++
      const met = cached.unobservable
      for (let i = 0; i < met.length; i++) if (!unobservable.includes(met[i] as string)) unobservable.push(met[i] as string)
      return cached.verdict
    }
    this.ends.counters.misses++
    const own: string[] = []
    const verdict = this.ends.store(plan, evaluateEndpoint(plan.tiers, plan.direction, facts, endpoint, own), own)
    for (const u of own) if (!unobservable.includes(u)) unobservable.push(u)
    return verdict
  }

  private planPair (endpoint: PolicyEndpoint): PlanPair {
    let pair = this.planPairs[endpoint.id]
    if (pair === undefined) {
      const enforced = this.enforced.planFor(endpoint)
      const pending = this.pending.planFor(endpoint)
      pair = { enforced, pending, sameIngress: samePlans(enforced.ingress, pending.ingress), sameEgress: samePlans(enforced.egress, pending.egress), ends: undefined }
      this.planPairs[endpoint.id] = pair
    }
    return pair
  }

  private endPlans (pair: PlanPair): EndPlans {
    let ends = pair.ends
    if (ends === undefined) {
      const enforcedIngress = this.ends.plan(pair.enforced.ingress, 'ingress')
      const enforcedEgress = this.ends.plan(pair.enforced.egress, 'egress')
      ends = {
        enforcedIngress,
        enforcedEgress,
        pendingIngress: pair.sameIngress ? enforcedIngress : this.ends.plan(pair.pending.ingress, 'ingress'),
        pendingEgress: pair.sameEgress ? enforcedEgress : this.ends.plan(pair.pending.egress, 'egress')
      }
      pair.ends = ends
    }
    return ends
  }
}

/** The bits of a cached entry by number (-1, an end not evaluated: none) — no closure per flow on the fast path. */
function entryBits (cache: EndVerdictCache, entry: number): number {
  return entry < 0 ? 0 : cache.entryBitsOf(entry)
}

/** The hits of a cached entry by number (-1: none). */
function entryHits (cache: EndVerdictCache, entry: number): readonly PolicyHit[] {
  return entry < 0 ? NO_HITS : cache.entryHitsOf(entry)
}

/** A pipeline verdict from the two ends' verdicts: allowed only when both allow. */
function combine (src: EndpointVerdict | undefined, dst: EndpointVerdict | undefined): PipelineVerdict {
  const action = src?.action === 'Deny' || dst?.action === 'Deny' ? 'Deny' : 'Allow'
  return { action, src: src?.hits ?? NO_HITS, dst: dst?.hits ?? NO_HITS }
}
