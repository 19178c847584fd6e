// Calico's canonical selector text, Selector.String() (ast.go collectFragments). Quirks kept because the UID and
// anything keyed by the canonical form depend on them: every `&&`/`||` group is parenthesised, even at top level;
// `!` is printed bare before its operand (so `!(!a)` prints `!!a`, which re-parses as `a`); a value containing `"`
// is printed in single quotes (a value with both quote kinds, which no parsed selector can have, would not
// re-parse); set values are printed sorted and de-duplicated.
import type { SelectorNode } from './selector-ast.js'
import { sortedStringSet } from './sorted-string-set.js'

const VALUE_OPERATOR_TEXT = {
  eq: ' == ', ne: ' != ', contains: ' contains ', startsWith: ' starts with ', endsWith: ' ends with '
} as const

function quote (value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`
}

function collect (node: SelectorNode, out: string[]): void {
  switch (node.kind) {
    case 'all': out.push('all()'); return
    case 'global': out.push('global()'); return
    case 'has': out.push('has(', node.label, ')'); return
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      out.push(node.label, VALUE_OPERATOR_TEXT[node.kind], quote(node.value))
      return
    case 'in':
    case 'notIn':
      out.push(node.label, node.kind === 'in' ? ' in {' : ' not in {', sortedStringSet(node.values).map(quote).join(', '), '}')
      return
    case 'not':
      out.push('!')
      collect(node.operand, out)
      return
    case 'and':
    case 'or': {
      const separator = node.kind === 'and' ? ' && ' : ' || '
      out.push('(')
      node.operands.forEach((operand, i) => {
        if (i > 0) out.push(separator)
        collect(operand, out)
      })
      out.push(')')
    }
  }
}

/** Calico's canonical String() of a selector, e.g. `(a == "b" && has(c))`. */
export function printSelector (node: SelectorNode): string {
  const out: string[] = []
  collect(node, out)
  return out.join('')
}
