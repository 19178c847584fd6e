// The flow store's keys as columns: every stored FlowKey gets a dense slot, and the fields a List filters or
// sorts by live in typed arrays indexed by slot — strings as codes of one interned dictionary, the policy trace
// (with the action it ends in) as a code of a second one. A List over a million entries then compiles its
// filter once per distinct value (a few thousand names, a few hundred traces) and tests each entry with a few
// array reads, and sorts by integer ranks instead of chasing key objects and comparing strings.
//
// Dictionaries are reference-counted per slot, so names and traces of forgotten keys are forgotten too and
// memory stays bounded by the keys stored. Pure: no I/O, no clock.
import { flowFilter, matchesFlowKey, matchesStrings, type FlowFilter, type StringMatch } from '../flows/flow-filter.js'
import { doubled } from '../collections/typed-arrays.js'
import type { FlowKey } from '../flows/flow-log.js'
import type { PolicyHit } from '../policy/policy-hit.js'

/** Goldmane's SortBy, in domain form. */
export type ColumnSortBy = 'Time' | 'DestName' | 'DestNamespace' | 'DestType' | 'SourceName' | 'SourceNamespace' | 'SourceType'

/** What a List orders: a result's key slot and id, and the time Time sorts by. */
export interface SlotRanked {
  readonly slot: number
  readonly id: number
  readonly startTime: number
}

const ENDPOINT_TYPE_ORDER: Readonly<Record<string, number>> = { WorkloadEndpoint: 1, HostEndpoint: 2, NetworkSet: 3, Network: 4 }
const ACTION_CODE: Readonly<Record<string, number>> = { Allow: 0, Deny: 1 }

function compareText (x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0
}

function hitText (hit: PolicyHit): string {
  const t = hit.trigger
  const trigger = t === undefined ? '' : `${t.kind}\u0002${t.namespace}\u0002${t.tier}\u0002${t.name}`
  return `${hit.kind}\u0002${hit.namespace}\u0002${hit.tier}\u0002${hit.name}\u0002${hit.action}\u0002${hit.policyIndex}\u0002${hit.ruleIndex}\u0002${trigger}`
}

/** What the policy part of a filter depends on: the key's action and both traces. */
function traceText (key: FlowKey): string {
  return `${key.action}\u0001${key.policies.enforced.map(hitText).join('\u0003')}\u0001${key.policies.pending.map(hitText).join('\u0003')}`
}

/** Values interned to small integer codes, reference-counted, codes reused after release. */
class Interner<T> {
  readonly codes = new Map<string, number>()
  readonly values: Array<T | undefined> = []
  private refs = new Int32Array(64)
  private readonly free: number[] = []
  /** Bumped whenever a new code appears (invalidates orders computed over the values). */
  version = 0

  acquire (text: string, value: T): number {
    let code = this.codes.get(text)
    if (code === undefined) {
      code = this.free.pop() ?? this.values.length
      if (code === this.values.length) this.values.push(value)
      else this.values[code] = value
      if (code >= this.refs.length) this.refs = doubled(this.refs)
      this.codes.set(text, code)
      this.version++
    }
    this.refs[code] = (this.refs[code] as number) + 1
    return code
  }

  release (text: string, code: number): void {
    const left = (this.refs[code] as number) - 1
    this.refs[code] = left
    if (left > 0) return
    this.codes.delete(text)
    this.values[code] = undefined
    this.free.push(code)
  }

  get size (): number { return this.values.length }
}

/** A per-slot test compiled from a FlowFilter; equals matchesFlowKey on the slot's key. */
export type SlotPredicate = (slot: number) => boolean

/** The columns of every stored key. */
export class KeyColumns {
  private capacity = 1024
  private readonly freeSlots: number[] = []
  private nextSlot = 0
  private readonly strings = new Interner<string>()
  private readonly traces = new Interner<FlowKey>()
  private readonly keys: Array<FlowKey | undefined> = []
  private readonly traceTexts: Array<string | undefined> = []
  /** Per slot: the key's id, and how many buckets hold it (the store keeps it current). */
  ids = new Float64Array(this.capacity)
  bucketCounts = new Int32Array(this.capacity)
  private sourceName = new Int32Array(this.capacity)
  private sourceNamespace = new Int32Array(this.capacity)
  private destName = new Int32Array(this.capacity)
  private destNamespace = new Int32Array(this.capacity)
  private proto = new Int32Array(this.capacity)
  private destPort = new Float64Array(this.capacity)
  private trace = new Int32Array(this.capacity)
  private action = new Uint8Array(this.capacity)
  private sourceType = new Uint8Array(this.capacity)
  private destType = new Uint8Array(this.capacity)
  private rankCache: { version: number, ranks: Int32Array } | undefined
  private leadScratch = new Float64Array(0)

  /** Slots in use. */
  get size (): number { return this.nextSlot - this.freeSlots.length }

  /** Gives `key` (stored under `id`) a slot and fills its columns. */
  add (key: FlowKey, id: number): number {
    const slot = this.freeSlots.pop() ?? this.nextSlot++
    if (slot >= this.capacity) this.grow()
    const s = this.strings
    this.ids[slot] = id
    this.bucketCounts[slot] = 0
    this.sourceName[slot] = s.acquire(key.sourceName, key.sourceName)
    this.sourceNamespace[slot] = s.acquire(key.sourceNamespace, key.sourceNamespace)
    this.destName[slot] = s.acquire(key.destName, key.destName)
    this.destNamespace[slot] = s.acquire(key.destNamespace, key.destNamespace)
    this.proto[slot] = s.acquire(key.proto, key.proto)
    this.destPort[slot] = key.destPort
    this.action[slot] = ACTION_CODE[key.action] ?? 2
    this.sourceType[slot] = ENDPOINT_TYPE_ORDER[key.sourceType] ?? 0
    this.destType[slot] = ENDPOINT_TYPE_ORDER[key.destType] ?? 0
    const text = traceText(key)
    this.trace[slot] = this.traces.acquire(text, key)
    this.traceTexts[slot] = text
    this.keys[slot] = key
    return slot
  }

  /** Frees a slot (its key left the store). */
  remove (slot: number): void {
    const key = this.keys[slot]
    if (key === undefined) return
    const s = this.strings
    s.release(key.sourceName, this.sourceName[slot] as number)
    s.release(key.sourceNamespace, this.sourceNamespace[slot] as number)
    s.release(key.destName, this.destName[slot] as number)
    s.release(key.destNamespace, this.destNamespace[slot] as number)
    s.release(key.proto, this.proto[slot] as number)
    this.traces.release(this.traceTexts[slot] as string, this.trace[slot] as number)
    this.keys[slot] = undefined
    this.traceTexts[slot] = undefined
    this.bucketCounts[slot] = 0
    this.freeSlots.push(slot)
  }

  private grow (): void {
    const capacity = this.capacity * 2
    const grow = <A extends Int32Array | Float64Array | Uint8Array>(old: A, make: (n: number) => A): A => { const a = make(capacity); a.set(old); return a }
    this.ids = grow(this.ids, n => new Float64Array(n))
    this.bucketCounts = grow(this.bucketCounts, n => new Int32Array(n))
    this.sourceName = grow(this.sourceName, n => new Int32Array(n))
    this.sourceNamespace = grow(this.sourceNamespace, n => new Int32Array(n))
    this.destName = grow(this.destName, n => new Int32Array(n))
    this.destNamespace = grow(this.destNamespace, n => new Int32Array(n))
    this.proto = grow(this.proto, n => new Int32Array(n))
    this.destPort = grow(this.destPort, n => new Float64Array(n))
    this.trace = grow(this.trace, n => new Int32Array(n))
    this.action = grow(this.action, n => new Uint8Array(n))
    this.sourceType = grow(this.sourceType, n => new Uint8Array(n))
    this.destType = grow(this.destType, n => new Uint8Array(n))
    this.capacity = capacity
  }

  /** Which interned strings a list of string matches accepts (undefined: the field does not filter). */
  private allowedStrings (matches: readonly StringMatch[], ignoreCase: boolean): Uint8Array | undefined {
    if (matches.length === 0) return undefined
    const values = this.strings.values
    const allowed = new Uint8Array(values.length)
    for (let code = 0; code < values.length; code++) {
      const value = values[code]
      if (value !== undefined && matchesStrings(matches, value, ignoreCase)) allowed[code] = 1
    }
    return allowed
  }

  /** Compiles `filter` into a per-slot test: each distinct string and trace is matched once, here. */
  compileFilter (filter: FlowFilter): SlotPredicate {
    const sourceNames = this.allowedStrings(filter.sourceNames, false)
    const sourceNamespaces = this.allowedStrings(filter.sourceNamespaces, false)
    const destNames = this.allowedStrings(filter.destNames, false)
    const destNamespaces = this.allowedStrings(filter.destNamespaces, false)
    const protocols = this.allowedStrings(filter.protocols, true)
    const ports = filter.destPorts.length === 0 ? undefined : new Set(filter.destPorts)
    let actions: Uint8Array | undefined
    if (filter.actions.length > 0) {
      actions = new Uint8Array(3)
      for (const a of filter.actions) { const code = ACTION_CODE[a]; if (code !== undefined) actions[code] = 1 }
    }
    let traces: Uint8Array | undefined
    if (filter.policies.length > 0 || filter.pendingChangedOnly) {
      // The policy part of the filter alone, tried on one key of each trace (same action, same hits).
      const policyPart = flowFilter({ policies: filter.policies, pendingChangedOnly: filter.pendingChangedOnly })
      const reps = this.traces.values
      traces = new Uint8Array(reps.length)
      for (let code = 0; code < reps.length; code++) {
        const rep = reps[code]
        if (rep !== undefined && matchesFlowKey(policyPart, rep)) traces[code] = 1
      }
    }
    const sn = this.sourceName; const sns = this.sourceNamespace; const dn = this.destName; const dns = this.destNamespace
    const pr = this.proto; const dp = this.destPort; const ac = this.action; const tr = this.trace
    return slot =>
      (sourceNames === undefined || sourceNames[sn[slot] as number] === 1) &&
      (sourceNamespaces === undefined || sourceNamespaces[sns[slot] as number] === 1) &&
      (destNames === undefined || destNames[dn[slot] as number] === 1) &&
      (destNamespaces === undefined || destNamespaces[dns[slot] as number] === 1) &&
      (protocols === undefined || protocols[pr[slot] as number] === 1) &&
      (ports === undefined || ports.has(dp[slot] as number)) &&
      (actions === undefined || actions[ac[slot] as number] === 1) &&
      (traces === undefined || traces[tr[slot] as number] === 1)
  }

  /** Rank of every interned string in ascending (UTF-16 code unit) order; cached until a new string appears. */
  private stringRanks (): Int32Array {
    const version = this.strings.version
    if (this.rankCache?.version === version) return this.rankCache.ranks
    const values = this.strings.values
    const codes: number[] = []
    for (let code = 0; code < values.length; code++) if (values[code] !== undefined) codes.push(code)
    codes.sort((a, b) => compareText(values[a] as string, values[b] as string))
    const ranks = new Int32Array(values.length)
    for (let i = 0; i < codes.length; i++) ranks[codes[i] as number] = i
    this.rankCache = { version, ranks }
    return ranks
  }

  /**
   * The List order: the requested fields in order (key fields ascending, Time newest first), then newest
   * first, then id. A total order, since ids are unique per key and a key's windows differ in start.
   *
   * The leading key fields (up to the first Time) are folded into one number per slot, `lead`, whose ascending
   * order is theirs, so the scan rejects most entries with one array read and the comparator decides most pairs
   * with one subtraction. `timeFirst` says the order starts with Time (then `lead` is undefined).
   */
  compileOrder (sortBy: readonly ColumnSortBy[]): ListOrder {
    const needsRanks = sortBy.some(f => f === 'DestName' || f === 'DestNamespace' || f === 'SourceName' || f === 'SourceNamespace')
    const ranks = needsRanks ? this.stringRanks() : new Int32Array(0)
    const stringRadix = this.strings.size + 1
    // Each key field as a per-slot integer in [0, radix) whose ascending order is the field's order: a column
    // of codes, read through the string ranks (names) or as it is (endpoint types, stored as their enum rank).
    const fieldOf = (field: ColumnSortBy): SortColumn | undefined => {
      switch (field) {
        case 'Time': return undefined
        case 'DestName': return { codes: this.destName, ranks, radix: stringRadix }
        case 'DestNamespace': return { codes: this.destNamespace, ranks, radix: stringRadix }
        case 'SourceName': return { codes: this.sourceName, ranks, radix: stringRadix }
        case 'SourceNamespace': return { codes: this.sourceNamespace, ranks, radix: stringRadix }
        case 'DestType': return { codes: this.destType, ranks: undefined, radix: 5 }
        case 'SourceType': return { codes: this.sourceType, ranks: undefined, radix: 5 }
      }
      return undefined
    }
    const fields = sortBy.map(fieldOf)
    // The longest prefix of key fields whose mixed-radix number stays an exact integer in a double.
    const prefix: SortColumn[] = []
    let span = 1
    for (const f of fields) {
      if (f === undefined || span * f.radix > 2 ** 52) break
      prefix.push(f)
      span *= f.radix
    }
    let lead: Float64Array | undefined
    if (prefix.length > 0) {
      // One scratch array, refilled by each List (Lists are synchronous; the order never outlives its List).
      const n = this.nextSlot
      if (this.leadScratch.length < n) this.leadScratch = new Float64Array(Math.max(n, this.capacity))
      lead = this.leadScratch
      lead.fill(0, 0, n)
      // Field by field, each a tight loop over typed arrays (free slots get values nobody reads).
      for (const { codes, ranks: r, radix } of prefix) {
        if (r === undefined) for (let slot = 0; slot < n; slot++) lead[slot] = (lead[slot] as number) * radix + (codes[slot] as number)
        else for (let slot = 0; slot < n; slot++) lead[slot] = (lead[slot] as number) * radix + (r[codes[slot] as number] as number)
      }
    }
    const rest = fields.slice(prefix.length)
    const l = lead
    const tail = (a: SlotRanked, b: SlotRanked): number => {
      for (let i = 0; i < rest.length; i++) {
        const f = rest[i]
        const c = f === undefined ? b.startTime - a.startTime : columnValue(f, a.slot) - columnValue(f, b.slot)
        if (c !== 0) return c
      }
      return (b.startTime - a.startTime) || (a.id - b.id)
    }
    const compare = l === undefined ? tail : (a: SlotRanked, b: SlotRanked) => ((l[a.slot] as number) - (l[b.slot] as number)) || tail(a, b)
    return { compare, lead, timeFirst: sortBy.length === 0 || sortBy[0] === 'Time' }
  }
}

/** One sort field as a column: codes per slot, mapped through ranks when they are string codes. */
interface SortColumn {
  readonly codes: Int32Array | Uint8Array
  readonly ranks: Int32Array | undefined
  readonly radix: number
}

function columnValue (column: SortColumn, slot: number): number {
  const code = column.codes[slot] as number
  return column.ranks === undefined ? code : column.ranks[code] as number
}

/** A compiled List order (see KeyColumns.compileOrder). */
export interface ListOrder {
  readonly compare: (a: SlotRanked, b: SlotRanked) => number
  /** Per slot: the order of the leading key fields as one number (undefined when the order starts with Time). */
  readonly lead: Float64Array | undefined
  /** The order starts with Time, newest first. */
  readonly timeFirst: boolean
}
