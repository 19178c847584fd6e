// Calico's selector tokenizer, a line-by-line port of libcalico-go lib/selector/tokenizer/tokenizer.go (the
// version with word-boundary checks and MaxLabelLength). Upstream quirks kept on purpose:
// - whitespace is only space and tab; a newline or CR is an unexpected character;
// - strings are '…' or "…" with no escapes, ended by the first matching quote;
// - `has(`, `all(` and `global(` are recognised only with no space before "(", and only where a label could
//   start (so `has` alone, or `has (a)`, is a label named "has");
// - operator words (`contains`, `starts with`/`startswith`, `ends with`/`endswith`, `not in`/`notin`, `in`) are
//   recognised only right after a label and must end at a word boundary;
// - labels are runs of [A-Za-z0-9_./-], at most 512 characters.
// Unlike upstream, every token and error carries its position so messages can give a column.
import { SelectorSyntaxError } from '../../errors.js'

/** The longest label Calico accepts (tokenizer.MaxLabelLength). */
export const MAX_LABEL_LENGTH = 512

/** Token kinds, mirroring tokenizer.Kind. */
export type TokenKind =
  | 'label' | 'string' | 'lbrace' | 'rbrace' | 'comma' | 'eq' | 'ne' | 'in' | 'not' | 'notIn' | 'contains'
  | 'startsWith' | 'endsWith' | 'all' | 'has' | 'lparen' | 'rparen' | 'and' | 'or' | 'global' | 'eof'

/** One token: its kind, its value (label name or string contents; "" otherwise) and its start offset. */
export interface Token {
  readonly kind: TokenKind
  readonly value: string
  /** UTF-16 offset of the token's first character in the selector text (text.length for `eof`). */
  readonly start: number
}

/** The operators a label may be followed by, as the error message lists them. */
export const EXPECTED_OPERATORS = '"==", "!=", "contains", "starts with", "ends with", "in" or "not in"'

/** 1-based column of UTF-16 offset `index` in `text`, counted in code points (what an editor shows). */
export function columnAt (text: string, index: number): number {
  let column = 1
  for (let i = 0; i < index && i < text.length; i++) {
    const unit = text.charCodeAt(i)
    // The second half of a surrogate pair does not start a new column.
    if (!(unit >= 0xdc00 && unit <= 0xdfff && i > 0 && isHighSurrogate(text.charCodeAt(i - 1)))) column++
  }
  return column
}

function isHighSurrogate (unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff
}

function fail (text: string, index: number, message: string): never {
  const column = columnAt(text, index)
  throw new SelectorSyntaxError(`${message} at column ${column}`, column)
}

/** True for the characters Calico allows in a label name: [A-Za-z0-9_./-]. */
export function isLabelChar (unit: number): boolean {
  return (unit >= 0x61 && unit <= 0x7a) || (unit >= 0x41 && unit <= 0x5a) || (unit >= 0x30 && unit <= 0x39) ||
    unit === 0x5f || unit === 0x2e || unit === 0x2f || unit === 0x2d
}

function skipWhitespace (text: string, i: number): number {
  while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++
  return i
}

function labelEnd (text: string, i: number): number {
  while (i < text.length && isLabelChar(text.charCodeAt(i))) i++
  return i
}

function isWordBoundary (text: string, i: number): boolean {
  return i >= text.length || !isLabelChar(text.charCodeAt(i))
}

/**
 * Matches operator `words` at `i` and returns the offset after them, or -1. One word is cutPrefixCheckBreak: the
 * word must end at a word boundary. Several are cutMultiWordPrefixCheckBreak: blanks may follow each word
 * (so "notin" and "not  in" both work) and the boundary is checked after the trailing blanks.
 */
function matchWords (text: string, i: number, words: readonly string[]): number {
  const end = matchWordsIgnoringBoundary(text, i, words)
  return end !== -1 && isWordBoundary(text, end) ? end : -1
}

function matchWordsIgnoringBoundary (text: string, i: number, words: readonly string[]): number {
  let at = i
  for (const word of words) {
    if (!text.startsWith(word, at)) return -1
    at += word.length
    if (words.length > 1) at = skipWhitespace(text, at)
  }
  return at
}

function describeChar (text: string, i: number): string {
  const codePoint = text.codePointAt(i) ?? 0
  return JSON.stringify(String.fromCodePoint(codePoint))
}

function cutLabel (text: string, i: number, what: string): number {
  const end = labelEnd(text, i)
  if (end === i) {
    if (i >= text.length) fail(text, i, `expected ${what} but found end of selector`)
    fail(text, i, `expected ${what} but found ${describeChar(text, i)}`)
  }
  if (end - i > MAX_LABEL_LENGTH) fail(text, i, `label is longer than ${MAX_LABEL_LENGTH} characters`)
  return end
}

const OPERATOR_WORDS: ReadonlyArray<readonly [TokenKind, readonly string[]]> = [
  ['contains', ['contains']],
  ['startsWith', ['starts', 'with']],
  ['endsWith', ['ends', 'with']],
  ['notIn', ['not', 'in']],
  ['in', ['in']]
]

const SINGLE_CHAR: Readonly<Record<string, TokenKind>> = {
  '(': 'lparen', ')': 'rparen', '{': 'lbrace', '}': 'rbrace', ',': 'comma'
}

const DOUBLE_CHAR: Readonly<Record<string, TokenKind>> = { '=': 'eq', '&': 'and', '|': 'or' }

const AFTER_OPERATOR: Partial<Record<TokenKind, string>> = {
  eq: 'a quoted string after "=="',
  ne: 'a quoted string after "!="',
  contains: 'a quoted string after "contains"',
  startsWith: 'a quoted string after "starts with"',
  endsWith: 'a quoted string after "ends with"',
  in: '"{" after "in"',
  notIn: '"{" after "not in"',
  lbrace: 'a quoted string or "}" in the set',
  comma: 'a quoted string or "}" in the set'
}

// Where a label cannot start either, say what the previous token calls for (the parser would say the same).
function expectedAfter (previous: TokenKind | undefined): string {
  return (previous === undefined ? undefined : AFTER_OPERATOR[previous]) ??
    'a label, "has(…)", "all()", "global()", "!" or "("'
}

/** Splits a selector into tokens ending with one `eof` token; throws SelectorSyntaxError with a column. */
export function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  for (;;) {
    i = skipWhitespace(text, i)
    if (i >= text.length) {
      tokens.push({ kind: 'eof', value: '', start: text.length })
      return tokens
    }
    const start = i
    const ch = text[i] as string
    const single = SINGLE_CHAR[ch]
    const double = DOUBLE_CHAR[ch]
    if (single !== undefined) {
      tokens.push({ kind: single, value: '', start })
      i++
    } else if (double !== undefined) {
      if (text[i + 1] !== ch) fail(text, i, `expected "${ch}${ch}" but found a single "${ch}"`)
      tokens.push({ kind: double, value: '', start })
      i += 2
    } else if (ch === '"' || ch === "'") {
      const close = text.indexOf(ch, i + 1)
      if (close === -1) fail(text, i, `unterminated string: expected a closing ${ch} for the string starting`)
      tokens.push({ kind: 'string', value: text.slice(i + 1, close), start })
      i = close + 1
    } else if (ch === '!') {
      if (text[i + 1] === '=') {
        tokens.push({ kind: 'ne', value: '', start })
        i += 2
      } else {
        tokens.push({ kind: 'not', value: '', start })
        i++
      }
    } else if (tokens.length > 0 && tokens[tokens.length - 1]?.kind === 'label') {
      // Right after a label only an operator word may follow (symbols were handled above).
      let matched = false
      for (const [kind, words] of OPERATOR_WORDS) {
        const end = matchWords(text, i, words)
        if (end !== -1) {
          tokens.push({ kind, value: '', start })
          i = end
          matched = true
          break
        }
      }
      if (!matched) {
        // Upstream rejects "a starts with b" here, not in the parser; say what is really missing.
        for (const [kind, words] of OPERATOR_WORDS) {
          const end = matchWordsIgnoringBoundary(text, i, words)
          // A blank before `end` means the operator words were complete and the operand is what is wrong.
          if (end !== -1 && (text[end - 1] === ' ' || text[end - 1] === '\t')) {
            fail(text, end, `expected ${expectedAfter(kind)} but found ${describeChar(text, end)}`)
          }
        }
        const label = tokens[tokens.length - 1]?.value ?? ''
        fail(text, i, `expected ${EXPECTED_OPERATORS} after label ${JSON.stringify(label)}`)
      }
    } else if (text.startsWith('has(', i)) {
      const labelStart = skipWhitespace(text, i + 4)
      const end = cutLabel(text, labelStart, 'a label name inside "has(…)"')
      const close = skipWhitespace(text, end)
      if (text[close] !== ')') {
        fail(text, close, `expected ")" to close "has(${text.slice(labelStart, end)}"`)
      }
      tokens.push({ kind: 'has', value: text.slice(labelStart, end), start })
      i = close + 1
    } else if (text.startsWith('all(', i) || text.startsWith('global(', i)) {
      const isAll = text.startsWith('all(', i)
      const close = skipWhitespace(text, i + (isAll ? 4 : 7))
      if (text[close] !== ')') fail(text, close, `expected ")" after "${isAll ? 'all(' : 'global('}"`)
      tokens.push({ kind: isAll ? 'all' : 'global', value: '', start })
      i = close + 1
    } else {
      const end = cutLabel(text, i, expectedAfter(tokens[tokens.length - 1]?.kind))
      tokens.push({ kind: 'label', value: text.slice(i, end), start })
      i = end
    }
  }
}
