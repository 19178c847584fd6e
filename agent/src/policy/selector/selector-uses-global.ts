// What a validator needs for Calico's global() placement rules (validator.go validateEntityRule, CRD CEL rules):
// global() may appear only as the *entire* namespaceSelector of a rule's source/destination; anywhere else
// (policy selector, serviceAccountSelector, an EntityRule selector) it is rejected, and so is "global() && x".
// Upstream checks the text: a field is suspect when it contains "global(" and, for a namespaceSelector, is
// accepted only when it tokenizes to exactly [global(), EOF] (so "  global()  " passes, "(global())" does not).
import type { SelectorNode } from './selector-ast.js'
import { tokenize } from './tokenize.js'

/** True when the selector contains a global() node anywhere. */
export function selectorUsesGlobal (node: SelectorNode): boolean {
  switch (node.kind) {
    case 'global': return true
    case 'not': return selectorUsesGlobal(node.operand)
    case 'and':
    case 'or': return node.operands.some(selectorUsesGlobal)
    default: return false
  }
}

/** True when `text` is exactly `global()` up to spaces/tabs: the only form upstream accepts in a namespaceSelector. */
export function isBareGlobalSelector (text: string): boolean {
  let tokens
  try {
    tokens = tokenize(text)
  } catch {
    return false
  }
  return tokens.length === 2 && tokens[0]?.kind === 'global'
}
