// Policies repeat the same few selectors many times (every knp.default.* rule, every namespaceSelector), so
// compiled selectors are shared by source text. The map is bounded; on overflow the least recently used entry is
// dropped (a Map iterates in insertion order, and a hit re-inserts its entry). Parse errors are not cached: they
// are rare and thrown to the caller every time.
import type { SelectorNode } from './selector-ast.js'
import { compileSelector, type LabelMatcher } from './compile-selector.js'
import { parseSelector } from './parse-selector.js'
import { printSelector } from './print-selector.js'

/** A parsed and compiled selector with its source and canonical text. */
export interface CompiledSelector {
  /** The text as written in the resource. */
  readonly source: string
  /** Calico's canonical String() of the selector. */
  readonly canonical: string
  /** True when the selector is `all()` (or empty): it matches every label map unconditionally. */
  readonly isAll: boolean
  /** The compiled matcher. */
  readonly matches: LabelMatcher
  /** The parsed selector, for checks such as selectorUsesGlobal. */
  readonly node: SelectorNode
}

/** Default bound on the number of distinct selector texts a SelectorCache keeps. */
export const DEFAULT_SELECTOR_CACHE_ENTRIES = 10_000

/** Parses and compiles a selector once (no cache). Throws SelectorSyntaxError like parseSelector. */
export function compileSelectorText (source: string): CompiledSelector {
  const node = parseSelector(source)
  return Object.freeze({
    source,
    canonical: printSelector(node),
    isAll: node.kind === 'all',
    matches: compileSelector(node),
    node
  })
}

/** Memoises compileSelectorText by source text, keeping at most `maxEntries` selectors (least recently used out). */
export class SelectorCache {
  private readonly entries = new Map<string, CompiledSelector>()
  private readonly maxEntries: number

  constructor (options: { maxEntries?: number } = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_SELECTOR_CACHE_ENTRIES)
  }

  /** Number of selectors currently cached. */
  get size (): number {
    return this.entries.size
  }

  /** The compiled form of `text`, from the cache when possible; throws SelectorSyntaxError for a bad selector. */
  compile (text: string): CompiledSelector {
    const cached = this.entries.get(text)
    if (cached !== undefined) {
      this.entries.delete(text)
      this.entries.set(text, cached)
      return cached
    }
    const compiled = compileSelectorText(text)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(text, compiled)
    return compiled
  }
}
