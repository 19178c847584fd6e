// The parsed form of a Calico label selector, one node kind per node type of libcalico-go's
// lib/selector/parser/ast.go. Nodes are plain frozen-shape data so they can be printed, hashed, compiled and
// compared structurally; `and`/`or` always have at least one operand (the parser only builds them with two or
// more, as upstream does), because upstream's String() indexes Operands[0] unconditionally.

/** `all()` (also what an empty or whitespace-only selector parses to): matches every label set. */
export interface AllNode {
  readonly kind: 'all'
}

/** `global()`: evaluates like `all()`; where it may appear is an API validation rule, not a parser rule. */
export interface GlobalNode {
  readonly kind: 'global'
}

/** `has(label)`: true when the label is present, whatever its value (including ""). */
export interface HasNode {
  readonly kind: 'has'
  readonly label: string
}

/** The binary comparisons whose right-hand side is one quoted string. */
export type ValueOperator = 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'

/** `label == "v"`, `!=`, `contains`, `starts with`, `ends with`; only `!=` is true when the label is absent. */
export interface ValueNode {
  readonly kind: ValueOperator
  readonly label: string
  readonly value: string
}

/** `label in {…}` / `label not in {…}`; `values` is sorted by code point (UTF-8 byte order) and de-duplicated. */
export interface SetNode {
  readonly kind: 'in' | 'notIn'
  readonly label: string
  readonly values: readonly string[]
}

/** `!operand`. */
export interface NotNode {
  readonly kind: 'not'
  readonly operand: SelectorNode
}

/** `a && b && …` (`and`) or `a || b || …` (`or`), flat as parsed: no re-association, no flattening. */
export interface BooleanNode {
  readonly kind: 'and' | 'or'
  readonly operands: readonly [SelectorNode, ...SelectorNode[]]
}

/** A parsed Calico selector. */
export type SelectorNode = AllNode | GlobalNode | HasNode | ValueNode | SetNode | NotNode | BooleanNode
