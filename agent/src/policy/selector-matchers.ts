// Selector results cached per label set: each distinct selector is compiled once (SelectorCache) and its result
// for an entity's own labels, its namespace's labels and its service account's labels is remembered by entity id.
// `reset` drops the remembered results when the directory (labels) changes; compiled matchers are kept.
import type { Entity } from './endpoint-model.js'
import type { Labels } from './resources.js'
import { SelectorCache, type CompiledSelector } from './selector/index.js'

const UNKNOWN = 0
const NO = 1
const YES = 2

/** One selector with its remembered results. */
export class MemoizedSelector {
  readonly compiled: CompiledSelector
  private entityResults: Uint8Array
  // Results for an entity's namespace and service account, remembered by entity id too: the hot path then
  // never builds a string key (namespace/SA selectors are evaluated on every rule of every flow).
  private namespaceResults: Uint8Array
  private serviceAccountResults: Uint8Array

  constructor (compiled: CompiledSelector, entityCount: number) {
    this.compiled = compiled
    this.entityResults = new Uint8Array(entityCount)
    this.namespaceResults = new Uint8Array(entityCount)
    this.serviceAccountResults = new Uint8Array(entityCount)
  }

  /**
   * Whether the selector matches the labels of an entity's namespace (`labelsOf` is asked once per entity; a
   * function made once, not per call, so a remembered answer allocates nothing).
   */
  matchesEntityNamespace (entity: Entity, labelsOf: (entity: Entity) => Labels): boolean {
    return this.remembered(this.namespaceResults, entity, labelsOf)
  }

  /** Whether the selector matches the labels of an entity's service account (`labelsOf` asked once per entity). */
  matchesEntityServiceAccount (entity: Entity, labelsOf: (entity: Entity) => Labels): boolean {
    return this.remembered(this.serviceAccountResults, entity, labelsOf)
  }

  private remembered (results: Uint8Array, entity: Entity, labelsOf: (entity: Entity) => Labels): boolean {
    const id = entity.id
    const known = results[id]
    if (known === YES) return true
    if (known === NO) return false
    const result = this.compiled.matches(labelsOf(entity))
    if (id < results.length) results[id] = result ? YES : NO
    return result
  }

  /** Whether the selector matches an entity's labels (remembered by entity id). */
  matchesEntity (entity: Entity): boolean {
    const known = this.entityResults[entity.id]
    if (known === YES) return true
    if (known === NO) return false
    const result = this.compiled.matches(entity.labels)
    if (entity.id < this.entityResults.length) this.entityResults[entity.id] = result ? YES : NO
    return result
  }

  /** Forgets remembered results (labels changed). */
  reset (entityCount: number): void {
    if (this.entityResults.length !== entityCount) {
      this.entityResults = new Uint8Array(entityCount)
      this.namespaceResults = new Uint8Array(entityCount)
      this.serviceAccountResults = new Uint8Array(entityCount)
    } else {
      this.entityResults.fill(UNKNOWN)
      this.namespaceResults.fill(UNKNOWN)
      this.serviceAccountResults.fill(UNKNOWN)
    }
  }
}

/** The registry of memoized selectors shared by all compiled policies of an engine. */
export class SelectorMatchers {
  private readonly cache: SelectorCache
  private readonly byCanonical = new Map<string, MemoizedSelector>()
  private entityCount = 0

  constructor (cache: SelectorCache = new SelectorCache()) {
    this.cache = cache
  }

  /** The memoized matcher for a selector text (same canonical form → same matcher). Throws on bad syntax. */
  get (text: string): MemoizedSelector {
    const compiled = this.cache.compile(text)
    let m = this.byCanonical.get(compiled.canonical)
    if (m === undefined) {
      m = new MemoizedSelector(compiled, this.entityCount)
      this.byCanonical.set(compiled.canonical, m)
    }
    return m
  }

  /** Forgets all remembered results; called when the endpoint directory changes. */
  reset (entityCount: number): void {
    this.entityCount = entityCount
    for (const m of this.byCanonical.values()) m.reset(entityCount)
  }

  /** Number of distinct selectors compiled. */
  get size (): number { return this.byCanonical.size }
}
