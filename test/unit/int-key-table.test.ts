// IntKeyTable and IntKeyIndex: the typed-array hash tables the aggregator finds flow shapes with and the policy
// engine's per-end cache finds its entries with.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { IntKeyIndex, IntKeyTable } from '../../agent/src/collections/int-key-table.js'

test('keys that differ in any one word are different entries, across growth; set replaces; clear forgets', () => {
  const table = new IntKeyTable<string>()
  const keys: Array<[number, number, number]> = []
  // 3 × 3 × 3 base keys × 4,000 offsets: many share two of their three words. Values past 2^31 wrap like int32.
  for (let i = 0; i < 4000; i++) for (const a of [i, i + 2 ** 31, -i - 1]) for (const b of [0, 1, 65536]) for (const c of [-1, 0, 0x40000000 + i]) keys.push([a, b, c])
  keys.forEach(([a, b, c], n) => table.set(a, b, c, `v${n}`))
  assert.equal(table.size, keys.length)
  keys.forEach(([a, b, c], n) => assert.equal(table.get(a, b, c), `v${n}`))
  assert.equal(table.get(4001, 0, -1), undefined)
  table.set(5, 1, 0, 'replaced')
  assert.equal(table.get(5, 1, 0), 'replaced')
  assert.equal(table.size, keys.length, 'a replacement is not a new entry')
  table.clear()
  assert.equal(table.size, 0)
  assert.equal(table.get(5, 1, 0), undefined)
})

test('IntKeyIndex: insert files a number once and answers the one filed; find misses with -1; clear forgets, slots kept or not', () => {
  const index = new IntKeyIndex(16)
  // Enough keys to grow the 16-slot table many times, with words that differ in one place only.
  for (let i = 0; i < 5000; i++) assert.equal(index.insert(i % 7, i, -i, i * 3), -1, 'a new key is added')
  assert.equal(index.size, 5000)
  for (let i = 0; i < 5000; i++) assert.equal(index.find(i % 7, i, -i), i * 3)
  assert.equal(index.insert(3, 10, -10, 99), 30, 'an existing key keeps its number and says which')
  assert.equal(index.find(3, 10, -10), 30)
  assert.equal(index.find(4, 10, -10), -1)
  assert.equal(index.size, 5000)
  for (const keepSlots of [true, false]) {
    index.clear(keepSlots)
    assert.equal(index.size, 0)
    assert.equal(index.find(3, 10, -10), -1)
    assert.equal(index.insert(3, 10, -10, 7), -1)
    assert.equal(index.find(3, 10, -10), 7)
  }
})
