// IntKeyTable: the typed-array hash table the aggregator finds flow shapes with.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { IntKeyTable } from '../../agent/src/collections/int-key-table.js'

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
