// Calico's selector parser, a port of libcalico-go lib/selector/parser/parser.go: `||` binds loosest, then `&&`,
// then one operation with any number of leading `!` collapsed to a single negation at parse time (so `!!!a`
// is `!a` but `!(!a)` keeps both, a quirk the printer then shows as `!!a`). Parenthesised groups yield the inner
// node itself (no node of their own). Sets are stored sorted and de-duplicated, as ConvertToStringSetInPlace
// does. Errors name what was expected and where.
import { SelectorSyntaxError } from '../../errors.js'
import type { SelectorNode, ValueOperator } from './selector-ast.js'
import { sortedStringSet } from './sorted-string-set.js'
import { columnAt, EXPECTED_OPERATORS, tokenize, type Token, type TokenKind } from './tokenize.js'

/**
 * Deepest parenthesis nesting accepted. Upstream has none (Go stacks grow); here it keeps parsing, printing and
 * evaluation far from the JavaScript stack limit, so a hostile selector gets a syntax error, not a RangeError.
 */
export const MAX_NESTING_DEPTH = 500

const VALUE_OPERATORS: Partial<Record<TokenKind, ValueOperator>> = {
  eq: 'eq', ne: 'ne', contains: 'contains', startsWith: 'startsWith', endsWith: 'endsWith'
}

const TOKEN_TEXT: Record<TokenKind, string> = {
  label: 'label', string: 'string', lbrace: '{', rbrace: '}', comma: ',', eq: '==', ne: '!=', in: 'in', not: '!',
  notIn: 'not in', contains: 'contains', startsWith: 'starts with', endsWith: 'ends with', all: 'all()', has: 'has',
  lparen: '(', rparen: ')', and: '&&', or: '||', global: 'global()', eof: 'end of selector'
}

function describe (token: Token): string {
  switch (token.kind) {
    case 'eof': return 'end of selector'
    case 'label': return `label ${JSON.stringify(token.value)}`
    case 'string': return `string ${JSON.stringify(token.value)}`
    case 'has': return `"has(${token.value})"`
    default: return `"${TOKEN_TEXT[token.kind]}"`
  }
}

class SelectorParser {
  private pos = 0

  constructor (private readonly text: string, private readonly tokens: readonly Token[]) {}

  parseRoot (): SelectorNode {
    if (this.peek().kind === 'eof') return { kind: 'all' }
    const node = this.parseOr(0)
    const rest = this.peek()
    if (rest.kind === 'rparen') this.fail(rest, 'found ")" with no matching "("')
    if (rest.kind !== 'eof') this.fail(rest, `expected "&&", "||" or end of selector but found ${describe(rest)}`)
    return node
  }

  private peek (offset = 0): Token {
    // The eof token is always last, so reading past it keeps returning it.
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)] as Token
  }

  private fail (token: Token, message: string): never {
    const column = columnAt(this.text, token.start)
    throw new SelectorSyntaxError(`${message} at column ${column}`, column)
  }

  private parseOr (depth: number): SelectorNode {
    const first = this.parseAnd(depth)
    if (this.peek().kind !== 'or') return first
    const operands: [SelectorNode, ...SelectorNode[]] = [first]
    while (this.peek().kind === 'or') {
      this.pos++
      operands.push(this.parseAnd(depth))
    }
    return { kind: 'or', operands }
  }

  private parseAnd (depth: number): SelectorNode {
    const first = this.parseOperation(depth)
    if (this.peek().kind !== 'and') return first
    const operands: [SelectorNode, ...SelectorNode[]] = [first]
    while (this.peek().kind === 'and') {
      this.pos++
      operands.push(this.parseOperation(depth))
    }
    return { kind: 'and', operands }
  }

  private parseOperation (depth: number): SelectorNode {
    let negated = false
    while (this.peek().kind === 'not') {
      negated = !negated
      this.pos++
    }
    const token = this.peek()
    let node: SelectorNode
    switch (token.kind) {
      case 'has':
        node = { kind: 'has', label: token.value }
        this.pos++
        break
      case 'all':
      case 'global':
        node = { kind: token.kind }
        this.pos++
        break
      case 'label':
        node = this.parseComparison(token)
        break
      case 'lparen': {
        if (depth >= MAX_NESTING_DEPTH) this.fail(token, `parentheses nested deeper than ${MAX_NESTING_DEPTH} levels`)
        this.pos++
        node = this.parseOr(depth + 1)
        const close = this.peek()
        if (close.kind !== 'rparen') {
          this.fail(close, `expected ")" to close the "(" at column ${columnAt(this.text, token.start)} but found ${describe(close)}`)
        }
        this.pos++
        break
      }
      default:
        this.fail(token, `expected a label, "has(…)", "all()", "global()", "!" or "(" but found ${describe(token)}`)
    }
    return negated ? { kind: 'not', operand: node } : node
  }

  private parseComparison (label: Token): SelectorNode {
    const operator = this.peek(1)
    const valueOperator = VALUE_OPERATORS[operator.kind]
    if (valueOperator !== undefined) {
      const value = this.peek(2)
      if (value.kind !== 'string') {
        this.fail(value, `expected a quoted string after "${TOKEN_TEXT[operator.kind]}" but found ${describe(value)}`)
      }
      this.pos += 3
      return { kind: valueOperator, label: label.value, value: value.value }
    }
    if (operator.kind === 'in' || operator.kind === 'notIn') {
      const brace = this.peek(2)
      if (brace.kind !== 'lbrace') {
        this.fail(brace, `expected "{" after "${TOKEN_TEXT[operator.kind]}" but found ${describe(brace)}`)
      }
      this.pos += 3
      const values: string[] = []
      let afterValue = false
      // Same loop as upstream: values separated by commas, a trailing comma allowed, "{}" allowed.
      for (;;) {
        const item = this.peek()
        if (item.kind !== 'string') break
        values.push(item.value)
        this.pos++
        afterValue = true
        if (this.peek().kind !== 'comma') break
        this.pos++
        afterValue = false
      }
      const close = this.peek()
      if (close.kind !== 'rbrace') {
        this.fail(close, afterValue
          ? `expected "," or "}" after a set value but found ${describe(close)}`
          : `expected a quoted string or "}" in the set but found ${describe(close)}`)
      }
      this.pos++
      return { kind: operator.kind, label: label.value, values: sortedStringSet(values) }
    }
    return this.fail(operator, `expected ${EXPECTED_OPERATORS} after label ${JSON.stringify(label.value)} but found ${describe(operator)}`)
  }
}

/** Parses a Calico selector; "" or blanks mean `all()`. Throws SelectorSyntaxError (1-based column, what was expected). */
export function parseSelector (text: string): SelectorNode {
  return new SelectorParser(text, tokenize(text)).parseRoot()
}
