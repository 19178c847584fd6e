// Turns a selector AST into one closure tree, built once, so matching a label map walks no AST, parses nothing
// and allocates nothing. Semantics are ast.go's Evaluate: a label is present when the map has it as an own
// string value ("" counts); `!=` and `not in` are true when it is absent, every other comparison false.
import type { Labels } from '../resources.js'
import type { SelectorNode } from './selector-ast.js'

/** A compiled selector: true when the label map matches. Never throws, never allocates. */
export type LabelMatcher = (labels: Labels) => boolean

const matchAll: LabelMatcher = () => true
const matchNone: LabelMatcher = () => false

// Label names such as "constructor" or "toString" are valid Calico labels, so a plain `labels[name]` lookup could
// see Object.prototype members; every comparison below only accepts a string, which those members never are.
function valueOf (labels: Labels, label: string): string | undefined {
  const value = labels[label]
  return typeof value === 'string' ? value : undefined
}

function compileSet (label: string, values: readonly string[], negate: boolean): LabelMatcher {
  if (values.length === 0) return negate ? matchAll : matchNone
  if (values.length === 1) {
    const only = values[0] as string
    // Strict (in)equality with a string never holds for a missing label or a prototype member.
    return negate ? labels => labels[label] !== only : labels => labels[label] === only
  }
  const set: ReadonlySet<unknown> = new Set(values)
  return negate ? labels => !set.has(labels[label]) : labels => set.has(labels[label])
}

function compileAll (operands: readonly LabelMatcher[], isAnd: boolean): LabelMatcher {
  if (operands.length === 1) return operands[0] as LabelMatcher
  if (operands.length === 2) {
    const [a, b] = operands as [LabelMatcher, LabelMatcher]
    return isAnd ? labels => a(labels) && b(labels) : labels => a(labels) || b(labels)
  }
  const list = [...operands]
  return isAnd
    ? labels => {
      for (const m of list) if (!m(labels)) return false
      return true
    }
    : labels => {
      for (const m of list) if (m(labels)) return true
      return false
    }
}

/** Compiles a selector into a LabelMatcher that agrees with Calico's Evaluate on every label map. */
export function compileSelector (node: SelectorNode): LabelMatcher {
  switch (node.kind) {
    case 'all':
    case 'global':
      return matchAll
    case 'has': {
      const { label } = node
      return labels => typeof labels[label] === 'string'
    }
    case 'eq': {
      const { label, value } = node
      return labels => labels[label] === value
    }
    case 'ne': {
      const { label, value } = node
      return labels => labels[label] !== value
    }
    case 'contains': {
      const { label, value } = node
      return labels => valueOf(labels, label)?.includes(value) ?? false
    }
    case 'startsWith': {
      const { label, value } = node
      return labels => valueOf(labels, label)?.startsWith(value) ?? false
    }
    case 'endsWith': {
      const { label, value } = node
      return labels => valueOf(labels, label)?.endsWith(value) ?? false
    }
    case 'in':
    case 'notIn':
      return compileSet(node.label, node.values, node.kind === 'notIn')
    case 'not': {
      const operand = compileSelector(node.operand)
      if (operand === matchAll) return matchNone
      if (operand === matchNone) return matchAll
      return labels => !operand(labels)
    }
    case 'and':
    case 'or':
      return compileAll(node.operands.map(compileSelector), node.kind === 'and')
  }
}
