// SelectorCache memoisation and bound, compiled-matcher edge cases, global() placement helpers, UTF-8 ordering.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SelectorSyntaxError } from '../../agent/src/errors.js'
import {
  compileSelector, isBareGlobalSelector, parseSelector, printSelector, SelectorCache, selectorUniqueId,
  selectorUsesGlobal
} from '../../agent/src/policy/selector/index.js'
import { compareUtf8, sortedStringSet } from '../../agent/src/policy/selector/sorted-string-set.js'

test('SelectorCache returns the same compiled object for the same text and fills every field', () => {
  const cache = new SelectorCache()
  const first = cache.compile("a == 'b' && has(c)")
  assert.equal(cache.compile("a == 'b' && has(c)"), first)
  assert.equal(first.source, "a == 'b' && has(c)")
  assert.equal(first.canonical, '(a == "b" && has(c))')
  assert.equal(first.isAll, false)
  assert.equal(first.matches({ a: 'b', c: '' }), true)
  assert.equal(first.matches({ a: 'b' }), false)
  assert.ok(Object.isFrozen(first))
})

test('SelectorCache: isAll for all(), empty and blank selectors only', () => {
  const cache = new SelectorCache()
  for (const text of ['', '  \t', 'all()', ' ( all( ) ) ']) assert.equal(cache.compile(text).isAll, true, text)
  for (const text of ['global()', '!all()', 'all() || all()', 'has(a)']) assert.equal(cache.compile(text).isAll, false, text)
})

test('SelectorCache evicts the least recently used entry beyond its bound', () => {
  const cache = new SelectorCache({ maxEntries: 2 })
  const a = cache.compile('has(a)')
  const b = cache.compile('has(b)')
  assert.equal(cache.compile('has(a)'), a) // a is now the most recently used
  cache.compile('has(c)') // evicts b
  assert.equal(cache.size, 2)
  assert.equal(cache.compile('has(a)'), a)
  assert.notEqual(cache.compile('has(b)'), b)
})

test('SelectorCache throws SelectorSyntaxError and caches nothing for a bad selector', () => {
  const cache = new SelectorCache()
  assert.throws(() => cache.compile('a ='), SelectorSyntaxError)
  assert.throws(() => cache.compile('a ='), SelectorSyntaxError)
  assert.equal(cache.size, 0)
})

test('labels named like Object.prototype members are ordinary labels', () => {
  const labels = JSON.parse('{"__proto__": "p", "constructor": "c"}') as Record<string, string>
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['has(constructor)', {}, false],
    ['has(toString)', {}, false],
    ['constructor != "x"', {}, true],
    ['constructor not in {"x", "y"}', {}, true],
    ['constructor in {"x", "y"}', {}, false],
    ['toString contains ""', {}, false],
    ['hasOwnProperty starts with ""', {}, false],
    ['has(constructor)', labels, true],
    ['constructor == "c"', labels, true],
    ['__proto__ == "p"', labels, true],
    ['has(__proto__)', labels, true],
    ['__proto__ in {"p", "q"}', labels, true],
    ['__proto__ ends with "p"', labels, true]
  ]
  for (const [text, l, expected] of cases) assert.equal(compileSelector(parseSelector(text))(l), expected, text)
})

test('the compiled matcher keeps "" distinct from absent', () => {
  const m = compileSelector(parseSelector('a in {""} || b not in {"x"}'))
  assert.equal(m({ a: '' }), true)
  assert.equal(m({ b: 'x' }), false)
  assert.equal(m({ b: '' }), true)
  assert.equal(compileSelector(parseSelector('a not in {}'))({ a: 'x' }), true)
  assert.equal(compileSelector(parseSelector('a in {}'))({ a: '' }), false)
  assert.equal(compileSelector(parseSelector('!all()'))({}), false)
  assert.equal(compileSelector(parseSelector('!!all()'))({}), true)
})

test('selectorUsesGlobal finds global() anywhere in the tree', () => {
  assert.equal(selectorUsesGlobal(parseSelector('global()')), true)
  assert.equal(selectorUsesGlobal(parseSelector('has(a) || !(b == "c" && global())')), true)
  assert.equal(selectorUsesGlobal(parseSelector('a == "global()"')), false)
  assert.equal(selectorUsesGlobal(parseSelector('all()')), false)
})

test('isBareGlobalSelector accepts only global() up to blanks, as validateEntityRule does', () => {
  for (const text of ['global()', '  global( )\t']) assert.equal(isBareGlobalSelector(text), true, text)
  for (const text of ['global() && all()', 'global()||all()', '(global())', '!global()', '', 'global(', 'all()']) {
    assert.equal(isBareGlobalSelector(text), false, text)
  }
})

test('set values sort by UTF-8 bytes (code points), not UTF-16 code units', () => {
  // U+E000 is one UTF-16 unit above the surrogates that encode U+1F600, but below it in UTF-8.
  assert.ok(compareUtf8('\uE000', '😀') < 0)
  assert.ok('\uE000' > '😀')
  assert.deepEqual(sortedStringSet(['b', 'a', '😀', '\uE000', 'a', 'B', '10', '9']), ['10', '9', 'B', 'a', 'b', '\uE000', '😀'])
  assert.equal(printSelector(parseSelector('k in {"😀", "\uE000"}')), 'k in {"\uE000", "😀"}')
})

test('selectorUniqueId depends only on the canonical form', () => {
  assert.equal(selectorUniqueId(parseSelector("a=='b'")), selectorUniqueId(parseSelector('  a == "b" ')))
  assert.notEqual(selectorUniqueId(parseSelector('has(a)')), selectorUniqueId(parseSelector('has(b)')))
  assert.match(selectorUniqueId(parseSelector('has(a)')), /^s:[A-Za-z0-9_-]{38}$/)
})
