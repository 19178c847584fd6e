// Syntax errors say what was expected and point at the offending character with a 1-based column.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SelectorSyntaxError } from '../../agent/src/errors.js'
import { MAX_NESTING_DEPTH, parseSelector } from '../../agent/src/policy/selector/index.js'

const OPS = '"==", "!=", "contains", "starts with", "ends with", "in" or "not in"'

const cases: Array<{ text: string, column: number, message: string }> = [
  { text: 'a b', column: 3, message: `expected ${OPS} after label "a" at column 3` },
  { text: 'a', column: 2, message: `expected ${OPS} after label "a" but found end of selector at column 2` },
  { text: 'a (', column: 3, message: `expected ${OPS} after label "a" but found "(" at column 3` },
  { text: 'a = "b"', column: 3, message: 'expected "==" but found a single "=" at column 3' },
  { text: 'a == "b" & c', column: 10, message: 'expected "&&" but found a single "&" at column 10' },
  { text: 'a == "b" | c', column: 10, message: 'expected "||" but found a single "|" at column 10' },
  { text: 'a == b', column: 6, message: 'expected a quoted string after "==" but found label "b" at column 6' },
  { text: 'a != ||', column: 6, message: 'expected a quoted string after "!=" but found "||" at column 6' },
  { text: 'a starts with', column: 14, message: 'expected a quoted string after "starts with" but found end of selector at column 14' },
  { text: 'a == %', column: 6, message: 'expected a quoted string after "==" but found "%" at column 6' },
  { text: 'a in "x"', column: 6, message: 'expected "{" after "in" but found string "x" at column 6' },
  { text: 'a not in ("x")', column: 10, message: 'expected "{" after "not in" but found "(" at column 10' },
  { text: 'a in {"x" "y"}', column: 11, message: 'expected "," or "}" after a set value but found string "y" at column 11' },
  { text: 'a in {"x",,}', column: 11, message: 'expected a quoted string or "}" in the set but found "," at column 11' },
  { text: 'a in {"x"', column: 10, message: 'expected "," or "}" after a set value but found end of selector at column 10' },
  { text: 'a == "b', column: 6, message: 'unterminated string: expected a closing " for the string starting at column 6' },
  { text: "a == 'b\"", column: 6, message: "unterminated string: expected a closing ' for the string starting at column 6" },
  { text: 'has(', column: 5, message: 'expected a label name inside "has(…)" but found end of selector at column 5' },
  { text: 'has( )', column: 6, message: 'expected a label name inside "has(…)" but found ")" at column 6' },
  { text: 'has(a b)', column: 7, message: 'expected ")" to close "has(a" at column 7' },
  { text: 'all(x)', column: 5, message: 'expected ")" after "all(" at column 5' },
  { text: 'global( x', column: 9, message: 'expected ")" after "global(" at column 9' },
  { text: '!', column: 2, message: 'expected a label, "has(…)", "all()", "global()", "!" or "(" but found end of selector at column 2' },
  { text: '&& a == "b"', column: 1, message: 'expected a label, "has(…)", "all()", "global()", "!" or "(" but found "&&" at column 1' },
  { text: 'a == "b" && %', column: 13, message: 'expected a label, "has(…)", "all()", "global()", "!" or "(" but found "%" at column 13' },
  { text: 'a == "b"\n', column: 9, message: 'expected a label, "has(…)", "all()", "global()", "!" or "(" but found "\\n" at column 9' },
  { text: '(a == "b"', column: 10, message: 'expected ")" to close the "(" at column 1 but found end of selector at column 10' },
  { text: 'has(a))', column: 7, message: 'found ")" with no matching "(" at column 7' },
  { text: 'has(a) has(b)', column: 8, message: 'expected "&&", "||" or end of selector but found "has(b)" at column 8' },
  // Columns count code points, so an emoji before the error is one column.
  { text: 'a == "😀" && ==', column: 13, message: 'expected a label, "has(…)", "all()", "global()", "!" or "(" but found "==" at column 13' },
  { text: `has(${'x'.repeat(513)})`, column: 5, message: 'label is longer than 512 characters at column 5' },
  { text: 'a containsx "x"', column: 3, message: `expected ${OPS} after label "a" at column 3` },
  { text: 'a notinx {"x"}', column: 3, message: `expected ${OPS} after label "a" at column 3` },
  // Upstream rejects these in the tokenizer; the message names the operand that is missing.
  { text: 'a starts with b', column: 15, message: 'expected a quoted string after "starts with" but found "b" at column 15' },
  { text: 'a not in x', column: 10, message: 'expected "{" after "not in" but found "x" at column 10' },
  { text: 'a contains b', column: 12, message: 'expected a quoted string after "contains" but found label "b" at column 12' }
]

test('syntax errors carry the expected message and column', async t => {
  for (const c of cases) {
    await t.test(JSON.stringify(c.text).slice(0, 60), () => {
      assert.throws(() => parseSelector(c.text), (err: unknown) => {
        assert.ok(err instanceof SelectorSyntaxError)
        assert.equal(err.message, c.message)
        assert.equal(err.location.column, c.column)
        assert.equal(err.code, 'ERR_SELECTOR_SYNTAX')
        return true
      })
    })
  }
})

test('a 512-character label is accepted, 513 is not', () => {
  assert.doesNotThrow(() => parseSelector(`${'a'.repeat(512)} == "x"`))
  assert.throws(() => parseSelector(`${'a'.repeat(513)} == "x"`), SelectorSyntaxError)
})

test('nesting beyond MAX_NESTING_DEPTH is a syntax error, not a stack overflow', () => {
  const ok = '('.repeat(MAX_NESTING_DEPTH) + 'has(a)' + ')'.repeat(MAX_NESTING_DEPTH)
  assert.deepEqual(parseSelector(ok), { kind: 'has', label: 'a' })
  const deep = '('.repeat(MAX_NESTING_DEPTH + 1) + 'has(a)' + ')'.repeat(MAX_NESTING_DEPTH + 1)
  assert.throws(() => parseSelector(deep), (err: unknown) => {
    assert.ok(err instanceof SelectorSyntaxError)
    assert.equal(err.location.column, MAX_NESTING_DEPTH + 1)
    return true
  })
  // A long run of "!" is a loop upstream and here, whatever its length.
  assert.deepEqual(parseSelector('!'.repeat(100_001) + 'has(a)'), { kind: 'not', operand: { kind: 'has', label: 'a' } })
})
