// Every vector of the shared conformance file (copied from libcalico-go's tests or derived from a line-by-line
// port of it): match results, rejected strings, canonical forms and UniqueIDs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { SelectorSyntaxError } from '../../agent/src/errors.js'
import {
  compileSelector, parseSelector, printSelector, SelectorCache, selectorUniqueId
} from '../../agent/src/policy/selector/index.js'

interface Vectors {
  match: Array<{ selector: string, labels: Record<string, string>, expect: boolean, origin: string }>
  invalid: string[]
  canonical: Array<{ input: string, canonical: string, uid?: string, origin: string }>
}

// Compiled to dist/test/unit, so four levels up is the directory that holds both main/ and shared/.
const vectorsUrl = new URL('../../../../shared/conformance/selectors.json', import.meta.url)
const vectors = JSON.parse(readFileSync(vectorsUrl, 'utf8')) as Vectors

test('selectors.json holds the expected number of vectors', () => {
  assert.equal(vectors.match.length, 224)
  assert.equal(vectors.invalid.length, 52)
  assert.equal(vectors.canonical.length, 27)
})

test('match vectors: compiled selector gives the expected result', async t => {
  for (const [i, v] of vectors.match.entries()) {
    await t.test(`match[${i}] ${JSON.stringify(v.selector).slice(0, 80)} ${JSON.stringify(v.labels).slice(0, 60)}`, () => {
      const matches = compileSelector(parseSelector(v.selector))
      assert.equal(matches(v.labels), v.expect, v.origin)
    })
  }
})

test('match vectors: the SelectorCache path agrees', () => {
  const cache = new SelectorCache()
  for (const v of vectors.match) assert.equal(cache.compile(v.selector).matches(v.labels), v.expect, v.selector)
})

test('invalid vectors: parseSelector throws SelectorSyntaxError with a column inside the text', async t => {
  for (const [i, text] of vectors.invalid.entries()) {
    await t.test(`invalid[${i}] ${JSON.stringify(text).slice(0, 80)}`, () => {
      assert.throws(() => parseSelector(text), (err: unknown) => {
        assert.ok(err instanceof SelectorSyntaxError, String(err))
        assert.equal(err.code, 'ERR_SELECTOR_SYNTAX')
        const column = err.location.column ?? 0
        assert.ok(column >= 1 && column <= [...text].length + 1, `column ${column} outside ${JSON.stringify(text)}`)
        assert.match(err.message, new RegExp(`at column ${column}$`))
        assert.match(err.message, /expected|unterminated|found|longer/)
        return true
      })
    })
  }
})

test('canonical vectors: printSelector and selectorUniqueId equal upstream String() and UniqueID()', async t => {
  for (const [i, v] of vectors.canonical.entries()) {
    await t.test(`canonical[${i}] ${JSON.stringify(v.input)}`, () => {
      const node = parseSelector(v.input)
      assert.equal(printSelector(node), v.canonical, v.origin)
      if (v.uid !== undefined) assert.equal(selectorUniqueId(node), v.uid, v.origin)
    })
  }
})
