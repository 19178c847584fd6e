// The per-end verdict cache. A flow's verdict is two independent evaluations per pipeline — egress on the source
// endpoint, ingress on the destination — and each depends only on the end's plan (its ordered tiers and
// policies), the local endpoint's profile, the flow's protocol, ICMP fields, IP version and ports, and, for each
// end, what the plan's rules can observe of it (compile-rule.ts, EndReads): per entity at that end the results of
// the rules' entity tests (selector and notSelector parts, "atoms") and its named ports, plus the results of the
// rules' address tests (nets, notNets). Keying an end's verdict by exactly those makes pods that the plan cannot
// tell apart share entries: a popular server's ingress verdict for clients of one kind is computed once, where
// the whole-flow cache (verdict-cache.ts) needs every (client, server, port).
//
// Each end is reduced to a class token per plan (equal tokens ⇔ equal observations), and an entry is keyed by one
// number: (local class, peer class, flow fields); flows with ICMP fields or source-port-dependent rules use a
// text key. Plans whose rules read services are not cached (a service rule reads the endpoint itself). Memory is
// bounded by entries and end classes together: past the bound everything starts over (counted as evictions).
import { IntKeyIndex } from '../collections/int-key-table.js'
import { doubled } from '../collections/typed-arrays.js'
import type { CompiledPolicy } from './compile-policy.js'
import type { EntityAtom, EndReads, IpAtom } from './compile-rule.js'
import type { Entity, PolicyEndpoint } from './endpoint-model.js'
import type { IpAddress } from './ip-address.js'
import { flowIpVersion, type FlowFacts, type FlowSide } from './flow-facts.js'
import type { EndpointVerdict, PolicyHit } from './policy-hit.js'
import type { TierInfo } from './tiers.js'

/** The policies of one tier that apply to an endpoint in one direction, in evaluation order. */
export interface TierPlan { readonly tier: TierInfo, readonly policies: readonly CompiledPolicy[] }

/**
 * What a plan's rules read of one end (local or peer), and the classes of ends seen so far. Plans that read the
 * same are given the same EndKey, so an entity's class is found once for all of them.
 */
export class EndKey {
  /** Class token by numeric observation code, and by observation text when the code does not fit. */
  byCode = new Map<number, number>()
  byText = new Map<string, number>()
  classes = 0
  /** Class token + 1 by entity id, for an end that is one entity at its own first address (0: not known). */
  byEntity: Uint16Array | undefined = undefined
  /**
   * For a scoped key (`global` set): the class token + 1 classOf settles on, by entity id, for such an end — the
   * namespace test and the unscoped key's lookup done once (EndVerdictCache.endpointClass).
   */
  resolvedByEntity: Uint16Array | undefined = undefined
  generation = 0

  constructor (
    /** Ids of the entity atoms some rule reads at this end, ascending. */
    readonly atoms: Int32Array,
    readonly ipAtoms: readonly IpAtom[],
    readonly namedPorts: boolean,
    /**
     * For a peer key with atoms that only hold inside some namespaces (`scoped`): the key of everything else it
     * reads. An end with no entity in those namespaces observes exactly that, so it takes that key's class.
     */
    readonly global: EndKey | undefined = undefined,
    readonly scoped: ReadonlySet<string> = NO_NAMESPACES
  ) {}
}

const NO_NAMESPACES: ReadonlySet<string> = new Set()

/** A cached end verdict with the unobservable rule fields met computing it (merged into the flow's list on a hit). */
export interface CachedEnd {
  readonly verdict: EndpointVerdict
  readonly unobservable: readonly string[]
}

/** What the rules of a plan read of one end, collected. */
class ReadsBuilder {
  readonly atoms = new Set<number>()
  readonly ipAtoms = new Map<string, IpAtom>()
  namedPorts = false
}

/** One direction's plan, shared by every endpoint (of either pipeline) with the same tiers and policies. */
export class EndPlan {
  /** Entries with a text key (ICMP fields, source ports); the numeric ones are in EndVerdictCache's one table. */
  textEntries = new Map<string, CachedEnd>()
  generation = 0

  constructor (
    /** Numbers the plan among the policy set's plans (EndVerdictCache.planAt): the first word of its entries' keys. */
    readonly index: number,
    readonly tiers: readonly TierPlan[],
    readonly direction: 'ingress' | 'egress',
    /** The end evaluated on (destination for ingress, source for egress) and the other end. */
    readonly local: EndKey,
    readonly peer: EndKey,
    /** False when a rule reads services (then the end is evaluated every time). */
    readonly cacheable: boolean
  ) {}
}

/** Entity slots (two bytes each) of all EndKey.byEntity arrays together. */
const MAX_ENTITY_SLOTS = 1 << 24
/** Class tokens per end and plan stay below this, so (local, peer, flow fields) packs into one safe integer. */
const MAX_CLASSES = 1 << 13
/** Class tokens of one EndKey stay below this (half the range: see EndVerdictCache.classOf). */
const MAX_KEY_CLASSES = MAX_CLASSES >> 1
// Numeric observation code of a peer of one entity: atom bits, named-port class, address bits (28 bits: a small
// integer, cheap as a map key).
const CODE_ATOMS = 16
const CODE_NAMED_PORTS_BITS = 8
const CODE_NAMED_PORTS = 1 << CODE_NAMED_PORTS_BITS
const CODE_IP_ATOMS = 4
const NONE: readonly string[] = Object.freeze([])
/** EndVerdictCache.entryBitsOf: the entry's verdict denies; the entry met unobservable rule fields. */
export const ENTRY_DENIES = 1
export const ENTRY_UNOBSERVABLE = 2
const UNKNOWN = 0
const NO = 1
const YES = 2

/** Counters of the per-end cache. */
export interface EndCacheCounters { hits: number, misses: number, evictions: number, entries: number }

export class EndVerdictCache {
  private readonly atomIds = new Map<EntityAtom, number>()
  private atomTests: Array<(e: Entity) => boolean> = []
  /** Per atom, the namespace outside which it never holds (EntityAtom.namespace). */
  private atomNamespaces: Array<string | undefined> = []
  /** Per atom, its result per entity id (UNKNOWN, NO, YES), filled on first use. */
  private atomResults: Array<Uint8Array | undefined> = []
  private entityCount = 0
  private namedPortClasses: Int32Array = new Int32Array(0)
  private readonly namedPortClassByText = new Map<string, number>()
  private readonly profileIds = new Map<string, number>()
  private profileByEntity: Int32Array = new Int32Array(0)
  private plans = new Map<string, EndPlan>()
  private planList: EndPlan[] = []
  /**
   * Every plan's numeric entries in one table: (plan index, local × peer class, flow fields) → canonical entry
   * number (`entryList`), held in the slot — a hit reads one cache line of the table, then the entry's bits and
   * hits by number (the fast path) or one of a few thousand entry objects (the general path). One table per plan
   * cost a cache miss for the plan's table, one for its value array and one for the entry object, per lookup.
   */
  private readonly table = new IntKeyIndex(1 << 16)
  private endKeys = new Map<string, EndKey>()
  /** Entity slots of EndKey.byEntity arrays allocated, against MAX_ENTITY_SLOTS. */
  private entitySlots = 0
  private policyNumbers = new Map<CompiledPolicy, number>()
  private generation = 0
  /** Entries and end classes, against the bound. */
  private size = 0
  readonly counters: EndCacheCounters = { hits: 0, misses: 0, evictions: 0, entries: 0 }
  /**
   * One verdict object per distinct verdict (action and trace), for every entry: equal traces are then the same
   * array, so whoever numbers or compares traces per array (the flow-log aggregator's key numbering) meets a few
   * thousand arrays, not one per entry. Emptied with the entries.
   */
  private canonical = new Map<string, EndpointVerdict>()
  /**
   * One entry object per distinct (verdict, unobservable fields) too: the tables' values are then a few thousand
   * objects that stay in the CPU's cache, not one per entry (reading a cold one cost a cache miss per lookup).
   */
  private canonicalEntries = new Map<string, number>()
  private entryList: CachedEnd[] = []
  /**
   * Per entry number, what the fast path reads of an entry, beside the objects: ENTRY_DENIES and
   * ENTRY_UNOBSERVABLE bits, and the verdict's hits (a reference copied, the array itself not read).
   */
  private entryBits = new Uint8Array(256)
  private entryHits: Array<readonly PolicyHit[]> = []
  /** Per plan index: whether the plan is cacheable (1) and its peer key — without reading the plan object. */
  private planCacheable = new Uint8Array(256)
  private planPeers: EndKey[] = []
  /** The key of the last `get` (numeric or text), for `store`. */
  private lastEnds = -1
  private lastFields = -1
  private lastText: string | undefined = undefined

  /** `maxSize` bounds entries and end classes of all plans together; 0 disables the cache. */
  constructor (private readonly maxSize: number) {}

  get enabled (): boolean { return this.maxSize > 0 }

  /** A new policy set: atoms are numbered afresh (equal keys, one number), plans and entries dropped. */
  setPolicies (compiled: readonly CompiledPolicy[], entityCount: number): void {
    this.atomIds.clear()
    this.atomTests = []
    this.atomNamespaces = []
    this.policyNumbers = new Map()
    const byKey = new Map<string, number>()
    const register = (reads: EndReads): void => {
      for (const atom of reads.entityAtoms) {
        let id = byKey.get(atom.key)
        if (id === undefined) {
          id = byKey.size
          byKey.set(atom.key, id)
          this.atomTests.push(atom.test)
          this.atomNamespaces.push(atom.namespace)
        }
        this.atomIds.set(atom, id)
      }
    }
    for (const c of compiled) {
      if (this.policyNumbers.has(c)) continue
      this.policyNumbers.set(c, this.policyNumbers.size)
      for (const rule of c.ingress) { register(rule.reads.src); register(rule.reads.dst) }
      for (const rule of c.egress) { register(rule.reads.src); register(rule.reads.dst) }
    }
    this.plans = new Map()
    this.planList = []
    this.planPeers = []
    this.endKeys = new Map()
    this.setDirectory(entityCount)
  }

  /** A new endpoint directory: what was learned about entities and every entry is dropped. */
  setDirectory (entityCount: number): void {
    this.entityCount = entityCount
    this.atomResults = []
    this.namedPortClasses = new Int32Array(entityCount)
    this.namedPortClassByText.clear()
    this.profileIds.clear()
    this.profileByEntity = new Int32Array(entityCount)
    this.dropEntries(false)
  }

  private dropEntries (evicted: boolean): void {
    if (evicted) this.counters.evictions += this.counters.entries
    this.counters.entries = 0
    this.size = 0
    this.entitySlots = 0
    this.canonical = new Map()
    this.canonicalEntries = new Map()
    this.entryList = []
    this.entryHits = []
    // Emptied at the bound, the table fills up to it again: keep its slots then (zeroing beats regrowing).
    this.table.clear(evicted)
    this.generation++
  }

  /** The plan numbered `index` (EndPlan.index) in the current policy set. */
  planAt (index: number): EndPlan { return this.planList[index] as EndPlan }

  /** The shared plan for one direction's tier plans (equal tiers and policies → the same object). */
  plan (tiers: readonly TierPlan[], direction: 'ingress' | 'egress'): EndPlan {
    let key: string = direction
    for (const t of tiers) {
      key += `|${t.tier.name}`
      for (const p of t.policies) key += `,${this.policyNumbers.get(p) ?? -1}`
    }
    let plan = this.plans.get(key)
    if (plan === undefined) {
      const src = new ReadsBuilder()
      const dst = new ReadsBuilder()
      let cacheable = true
      for (const t of tiers) {
        for (const p of t.policies) {
          for (const rule of direction === 'ingress' ? p.ingress : p.egress) {
            if (rule.reads.src.services || rule.reads.dst.services) cacheable = false
            this.addReads(src, rule.reads.src)
            this.addReads(dst, rule.reads.dst)
          }
        }
      }
      const local = direction === 'ingress' ? dst : src
      const peer = direction === 'ingress' ? src : dst
      plan = new EndPlan(this.planList.length, tiers, direction, this.endKey(local, true), this.endKey(peer, false), cacheable)
      this.plans.set(key, plan)
      this.planList.push(plan)
      if (plan.index >= this.planCacheable.length) this.planCacheable = doubled(this.planCacheable)
      this.planCacheable[plan.index] = cacheable ? 1 : 0
      this.planPeers.push(plan.peer)
    }
    return plan
  }

  private addReads (builder: ReadsBuilder, reads: EndReads): void {
    for (const atom of reads.entityAtoms) {
      const id = this.atomIds.get(atom)
      // Every atom of a loaded policy is numbered; an unknown one would mean a stale plan, so it is never skipped.
      if (id === undefined) throw new Error('policy engine: rule atom not registered')
      builder.atoms.add(id)
    }
    for (const atom of reads.ipAtoms) builder.ipAtoms.set(atom.key, atom)
    if (reads.namedPorts) builder.namedPorts = true
  }

  /** The shared EndKey for what a plan reads of its local (with profile) or peer end. */
  private endKey (builder: ReadsBuilder, local: boolean): EndKey {
    const atoms = [...builder.atoms].sort((a, b) => a - b)
    const ipKeys = [...builder.ipAtoms.keys()].sort()
    const text = JSON.stringify([local, atoms, ipKeys, builder.namedPorts])
    let key = this.endKeys.get(text)
    if (key === undefined) {
      const ipAtoms = ipKeys.map(k => builder.ipAtoms.get(k) as IpAtom)
      const scoped = new Set<string>()
      for (const id of atoms) { const ns = this.atomNamespaces[id]; if (ns !== undefined) scoped.add(ns) }
      if (local || scoped.size === 0) key = new EndKey(Int32Array.from(atoms), ipAtoms, builder.namedPorts)
      else {
        const unscoped = new ReadsBuilder()
        for (const id of atoms) if (this.atomNamespaces[id] === undefined) unscoped.atoms.add(id)
        for (const [k, atom] of builder.ipAtoms) unscoped.ipAtoms.set(k, atom)
        unscoped.namedPorts = builder.namedPorts
        key = new EndKey(Int32Array.from(atoms), ipAtoms, builder.namedPorts, this.endKey(unscoped, false), scoped)
      }
      this.endKeys.set(text, key)
    }
    return key
  }

  /**
   * The cached verdict of this end, or undefined (then `store` files the computed one under the same key; it
   * files nothing when the end cannot be cached: services read, class bound reached, cache disabled).
   */
  get (plan: EndPlan, flow: FlowFacts, local: FlowSide, peer: FlowSide, endpoint: PolicyEndpoint, sourcePorts: boolean): CachedEnd | undefined {
    this.lastEnds = -1
    this.lastText = undefined
    if (!plan.cacheable || this.maxSize <= 0) return undefined
    if (this.size >= this.maxSize) this.dropEntries(true)
    if (plan.generation !== this.generation) this.resetPlan(plan)
    const localClass = this.classOf(plan.local, local, endpoint)
    const peerClass = this.classOf(plan.peer, peer, undefined)
    if (localClass === undefined || peerClass === undefined) return undefined
    const ends = localClass * MAX_CLASSES + peerClass
    const fields = flowFields(flow)
    if (fields !== undefined && !(sourcePorts && flow.src.port !== undefined)) {
      this.lastEnds = ends
      this.lastFields = fields
      const i = this.table.find(plan.index, ends, fields)
      return i < 0 ? undefined : this.entryList[i]
    }
    const text = `${ends}|${flow.protocol}|${flow.dst.port ?? ''}|${sourcePorts ? flow.src.port ?? '' : ''}|${flow.icmpType ?? ''}|${flow.icmpCode ?? ''}|${flowIpVersion(flow) ?? ''}`
    this.lastText = text
    return plan.textEntries.get(text)
  }

  /**
   * Files a verdict under the key of the last `get`; returns the verdict object filed (an earlier equal one, if
   * any: see `canonical`), to be handed out in its place.
   */
  store (plan: EndPlan, computed: EndpointVerdict, unobservable: readonly string[]): EndpointVerdict {
    if (this.lastEnds < 0 && this.lastText === undefined) return computed
    const number = this.canonicalEntry(computed, unobservable)
    if (this.lastEnds >= 0) this.table.insert(plan.index, this.lastEnds, this.lastFields, number)
    else plan.textEntries.set(this.lastText as string, this.entryList[number] as CachedEnd)
    this.counters.entries++
    this.size++
    return (this.entryList[number] as CachedEnd).verdict
  }

  /** The number of the canonical entry equal to (computed, unobservable), made on first sight. */
  private canonicalEntry (computed: EndpointVerdict, unobservable: readonly string[]): number {
    const text = verdictText(computed)
    let verdict = this.canonical.get(text)
    if (verdict === undefined) { verdict = computed; this.canonical.set(text, verdict) }
    const entryText = unobservable.length === 0 ? text : `${text}\u0003${unobservable.join('\u0001')}`
    let number = this.canonicalEntries.get(entryText)
    if (number === undefined) {
      number = this.entryList.length
      this.entryList.push({ verdict, unobservable: unobservable.length === 0 ? NONE : unobservable })
      this.canonicalEntries.set(entryText, number)
      if (number >= this.entryBits.length) this.entryBits = doubled(this.entryBits)
      this.entryBits[number] = (verdict.action === 'Deny' ? ENTRY_DENIES : 0) | (unobservable.length > 0 ? ENTRY_UNOBSERVABLE : 0)
      this.entryHits.push(verdict.hits)
    }
    return number
  }

  // --- The engine's fast path: ends that are one endpoint at its own first address --------------------------

  /**
   * Before a fast-path evaluation (PolicyEngine.evaluatePlainEnds): empties the cache at its bound, so classes
   * and entries found next belong to one generation. False when the cache is disabled.
   */
  reserve (): boolean {
    if (this.maxSize <= 0) return false
    if (this.size >= this.maxSize) this.dropEntries(true)
    return true
  }

  /**
   * The class token of an end that is exactly `endpoint` at its first address (its address owned by it and in no
   * network set) for `key` — what classOf gives for that end, remembered by entity id. `local` says whether the
   * end is the one evaluated on (its profile is read). Undefined past the class bound.
   */
  endpointClass (key: EndKey, endpoint: PolicyEndpoint, local: boolean): number | undefined {
    if (key.generation !== this.generation) this.resetKey(key)
    const memo = key.global === undefined ? key.byEntity : key.resolvedByEntity
    const id = endpoint.id
    if (memo !== undefined && id < memo.length) {
      const known = memo[id] as number
      if (known !== 0) return known - 1
    }
    const token = this.classOf(key, { ip: endpoint.ips[0], endpoint, entities: [endpoint], port: undefined, service: undefined }, local ? endpoint : undefined)
    if (token !== undefined && key.global !== undefined) {
      let resolved = key.resolvedByEntity
      if (resolved === undefined && this.entitySlots + this.entityCount <= MAX_ENTITY_SLOTS) {
        resolved = new Uint16Array(this.entityCount)
        key.resolvedByEntity = resolved
        this.entitySlots += this.entityCount
      }
      if (resolved !== undefined && id < resolved.length) resolved[id] = token + 1
    }
    return token
  }

  /**
   * The number of the cached entry of plan `planIndex` for (local class, peer class, flow fields: flowFieldsOf),
   * or -1. Entry numbers are the canonical entries' (equal numbers ⇔ equal entries) until entriesGeneration changes.
   */
  find (planIndex: number, localClass: number, peerClass: number, fields: number): number {
    return this.table.find(planIndex, localClass * MAX_CLASSES + peerClass, fields)
  }

  /** Files a computed verdict under (plan, local class, peer class, fields); returns its canonical entry's number. */
  storeFound (plan: EndPlan, localClass: number, peerClass: number, fields: number, computed: EndpointVerdict, unobservable: readonly string[]): number {
    const number = this.canonicalEntry(computed, unobservable)
    if (this.table.insert(plan.index, localClass * MAX_CLASSES + peerClass, fields, number) < 0) {
      this.counters.entries++
      this.size++
    }
    return number
  }

  /** The canonical entry numbered `number`. */
  entryAt (number: number): CachedEnd { return this.entryList[number] as CachedEnd }
  /** ENTRY_DENIES | ENTRY_UNOBSERVABLE of entry `number`. */
  entryBitsOf (number: number): number { return this.entryBits[number] as number }
  /** The hits of entry `number`'s verdict. */
  entryHitsOf (number: number): readonly PolicyHit[] { return this.entryHits[number] as readonly PolicyHit[] }
  /** Whether plan `planIndex` is cacheable, and its peer key, from arrays by plan index. */
  planIsCacheable (planIndex: number): boolean { return this.planCacheable[planIndex] === 1 }
  planPeer (planIndex: number): EndKey { return this.planPeers[planIndex] as EndKey }

  /** Changes whenever entries and classes are dropped: entry numbers and class tokens of another generation mean nothing now. */
  get entriesGeneration (): number { return this.generation }

  private resetPlan (plan: EndPlan): void {
    plan.textEntries = new Map()
    plan.generation = this.generation
  }

  private resetKey (key: EndKey): void {
    key.byCode = new Map()
    key.byText = new Map()
    key.classes = 0
    key.byEntity = undefined
    key.resolvedByEntity = undefined
    key.generation = this.generation
  }

  /**
   * The class token of one end for a plan: equal tokens ⇔ equal observations — per entity (in order) the
   * results of the plan's atoms and, when rules name ports, its named ports; the address atoms; and for the
   * local end the profile it falls back to. Undefined past MAX_KEY_CLASSES classes of one key (the end is then
   * evaluated uncached).
   */
  private classOf (key: EndKey, side: FlowSide, endpoint: PolicyEndpoint | undefined): number | undefined {
    const global = key.global
    if (global !== undefined) {
      // Tokens of the unscoped key are below MAX_KEY_CLASSES, this key's own ones above: never equal.
      let inScope = false
      for (const e of side.entities) if (e.namespace !== undefined && key.scoped.has(e.namespace)) { inScope = true; break }
      if (!inScope) return this.classOf(global, side, endpoint)
      const own = this.ownClassOf(key, side, endpoint)
      return own === undefined ? undefined : MAX_KEY_CLASSES + own
    }
    return this.ownClassOf(key, side, endpoint)
  }

  private ownClassOf (key: EndKey, side: FlowSide, endpoint: PolicyEndpoint | undefined): number | undefined {
    if (key.generation !== this.generation) this.resetKey(key)
    // Nearly every end is one entity (for the local end: the endpoint) at its own first address, or observed
    // without its address: its class is remembered by entity id.
    const only = side.entities.length === 1 ? side.entities[0] as Entity : undefined
    const byId = only !== undefined && (endpoint === undefined || endpoint === only) &&
      (key.ipAtoms.length === 0 || (only.kind !== 'networkset' && sameIp(side.ip, only.ips[0])))
    let slots = key.byEntity
    if (byId) {
      if (slots !== undefined) {
        const known = only.id < slots.length ? slots[only.id] as number : 0
        if (known !== 0) return known - 1
      } else if (this.entitySlots + this.entityCount <= MAX_ENTITY_SLOTS) {
        slots = new Uint16Array(this.entityCount)
        key.byEntity = slots
        this.entitySlots += this.entityCount
      }
    }
    const token = this.computeClass(key, side, endpoint)
    if (byId && token !== undefined && slots !== undefined && only.id < slots.length) slots[only.id] = token + 1
    return token
  }

  private computeClass (key: EndKey, side: FlowSide, endpoint: PolicyEndpoint | undefined): number | undefined {
    const entities = side.entities
    const atoms = key.atoms
    const ipAtoms = key.ipAtoms
    if (endpoint === undefined && entities.length <= 1 && atoms.length <= CODE_ATOMS && ipAtoms.length <= CODE_IP_ATOMS) {
      // The common peer, one entity or none, as one small integer (no text built).
      const e = entities[0]
      let code = 0
      if (e !== undefined) {
        const id = e.id
        for (let i = 0; i < atoms.length; i++) {
          const atom = atoms[i] as number
          const results = this.atomResults[atom]
          const known = results === undefined || id >= results.length ? UNKNOWN : results[id]
          if (known === YES || (known === UNKNOWN && this.holds(atom, e))) code |= 1 << i
        }
      }
      const ports = key.namedPorts && e !== undefined ? this.namedPortClass(e) : 0
      if (ports < CODE_NAMED_PORTS) {
        code = (code << CODE_NAMED_PORTS_BITS) | ports
        for (let i = 0; i < ipAtoms.length; i++) code = (code << 1) | ((ipAtoms[i] as IpAtom).test(side.ip) ? 1 : 0)
        // No entity is told apart from an entity with no atom held by the sign.
        if (e === undefined) code = -1 - code
        const token = key.byCode.get(code)
        if (token !== undefined) return token
        if (key.classes >= MAX_KEY_CLASSES) return undefined
        key.byCode.set(code, key.classes)
        this.size++
        return key.classes++
      }
    }
    let text = endpoint === undefined ? '' : `${this.profileId(endpoint)}`
    for (const e of entities) {
      text += '/'
      for (let i = 0; i < atoms.length; i++) if (this.holds(atoms[i] as number, e)) text += `${i},`
      if (key.namedPorts) text += `:${this.namedPortClass(e)}`
    }
    text += '|'
    for (let i = 0; i < ipAtoms.length; i++) text += (ipAtoms[i] as IpAtom).test(side.ip) ? '1' : '0'
    const token = key.byText.get(text)
    if (token !== undefined) return token
    if (key.classes >= MAX_KEY_CLASSES) return undefined
    key.byText.set(text, key.classes)
    this.size++
    return key.classes++
  }

  /** Whether atom `id` holds for an entity (remembered per entity id). */
  private holds (id: number, e: Entity): boolean {
    let results = this.atomResults[id]
    if (results === undefined) { results = new Uint8Array(this.entityCount); this.atomResults[id] = results }
    const known = results[e.id]
    if (known === YES) return true
    if (known === NO) return false
    const result = (this.atomTests[id] as (e: Entity) => boolean)(e)
    if (e.id < results.length) results[e.id] = result ? YES : NO
    return result
  }

  /** The profile an evaluation falls back to is all it reads of the local endpoint itself. */
  private profileId (endpoint: PolicyEndpoint): number {
    // Remembered per entity id, from 1 (0: not yet known).
    const known = endpoint.id < this.profileByEntity.length ? this.profileByEntity[endpoint.id] as number : 0
    if (known !== 0) return known - 1
    const text = endpoint.kind === 'workload' ? `ns:${endpoint.namespace}` : endpoint.profiles.includes('projectcalico-default-allow') ? 'host:allow' : 'host:deny'
    let id = this.profileIds.get(text)
    if (id === undefined) { id = this.profileIds.size; this.profileIds.set(text, id) }
    if (endpoint.id < this.profileByEntity.length) this.profileByEntity[endpoint.id] = id + 1
    return id
  }

  /** Entities with the same named ports share a class (from 1, remembered per entity id); network sets are 0. */
  private namedPortClass (e: Entity): number {
    if (e.kind === 'networkset') return 0
    let c = e.id < this.namedPortClasses.length ? this.namedPortClasses[e.id] as number : 0
    if (c === 0) {
      const text = JSON.stringify(e.namedPorts.map(np => [np.name, np.protocol, np.port]))
      c = this.namedPortClassByText.get(text) ?? this.namedPortClassByText.size + 1
      this.namedPortClassByText.set(text, c)
      if (e.id < this.namedPortClasses.length) this.namedPortClasses[e.id] = c
    }
    return c
  }
}

/** A verdict's content as text (its action and every field of every hit), for `canonical`. */
function verdictText (verdict: EndpointVerdict): string {
  let text: string = verdict.action
  for (const hit of verdict.hits) {
    text += `\u0002${hit.kind}\u0001${hit.namespace}\u0001${hit.name}\u0001${hit.tier}\u0001${hit.action}\u0001${hit.policyIndex}\u0001${hit.ruleIndex}`
    const t = hit.trigger
    if (t !== undefined) text += `\u0001${t.kind}\u0001${t.namespace}\u0001${t.name}\u0001${t.tier}`
  }
  return text
}

function sameIp (a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.version === b.version && a.value === b.value
}

/** Protocol, destination port and IP version in one number below 2^26 (a 32-bit key word); undefined with ICMP fields or odd values. */
function flowFields (flow: FlowFacts): number | undefined {
  if (flow.icmpType !== undefined || flow.icmpCode !== undefined) return undefined
  return flowFieldsOf(flow.protocol, flow.dst.port, flowIpVersion(flow))
}

/** flowFields of a flow without ICMP fields, from its parts: undefined for odd values. */
export function flowFieldsOf (protocol: number, port: number | undefined, version: 4 | 6 | undefined): number | undefined {
  if ((protocol >>> 0) !== protocol || protocol > 255) return undefined
  if (port !== undefined && ((port >>> 0) !== port || port > 65535)) return undefined
  return ((protocol * 65537 + (port ?? 65536)) * 3) + (version === 4 ? 1 : version === 6 ? 2 : 0)
}
