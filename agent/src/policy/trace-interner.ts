// Interned traces: equal evaluation paths yield the very same frozen hit objects, trace arrays and endpoint
// verdicts. A trace is a path in a trie whose edges are the evaluation steps (a matching rule, a tier's end, a
// profile); a hit's position in its trace is the depth of its node, so one node stands for exactly one
// (step, position) and its hit and trace are built once. Callers downstream (the flow-log aggregator) memoize
// per object, so identity here turns their per-flow content numbering into a WeakMap lookup, and a cache miss
// allocates nothing per hit.
import type { EndpointVerdict, PolicyHit } from './policy-hit.js'

/** One evaluation path so far. */
export interface TraceNode {
  /** The hits of the path, frozen (empty at the root). */
  readonly hits: readonly PolicyHit[]
  /** The verdict ending the path here, built on first use. */
  verdict: EndpointVerdict | undefined
  /** Children by step key: a compiled rule, a tier's first compiled policy, or a profile's string key. */
  readonly next: Map<unknown, TraceNode>
}

/** Nodes held before the trie starts over (bounded memory; a fresh trie only costs identity, never correctness). */
const MAX_NODES = 1 << 16

export class TraceInterner {
  private root: TraceNode = newNode(Object.freeze([]))
  private nodes = 0

  /** The start of every trace. */
  get start (): TraceNode { return this.root }

  /** Starts over when the bound is reached; call between evaluations only (a path never spans two tries). */
  bound (): void {
    if (this.nodes >= MAX_NODES) this.clear()
  }

  /** Forgets every interned trace (policies or endpoints changed, or the bound was reached). */
  clear (): void {
    this.root = newNode(Object.freeze([]))
    this.nodes = 0
  }

  /**
   * The node after `node` through the step `key`; `hit` builds the step's hit for a given position and runs only
   * the first time.
   */
  step (node: TraceNode, key: unknown, hit: (policyIndex: number) => PolicyHit): TraceNode {
    let child = node.next.get(key)
    if (child === undefined) {
      child = newNode(Object.freeze([...node.hits, Object.freeze(hit(node.hits.length))]))
      node.next.set(key, child)
      this.nodes++
    }
    return child
  }

  /** The verdict of a path ending at `node` (the same object every time). */
  verdict (node: TraceNode, action: 'Allow' | 'Deny'): EndpointVerdict {
    let v = node.verdict
    if (v === undefined || v.action !== action) {
      v = Object.freeze({ action, hits: node.hits })
      node.verdict = v
    }
    return v
  }

}

function newNode (hits: readonly PolicyHit[]): TraceNode {
  return { hits, verdict: undefined, next: new Map() }
}
