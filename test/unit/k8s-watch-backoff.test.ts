// The watch retry delay: exponential, capped, jittered over [0, ceiling), never zero, reset by a success.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WatchBackoff } from '../../agent/src/k8s/watch-backoff.js'

test('the ceiling doubles per failure up to the cap; jitter stays below it', () => {
  const top = new WatchBackoff({ baseMs: 100, capMs: 1000, random: () => 0.9999 })
  assert.deepEqual(Array.from({ length: 6 }, () => top.next()), [99, 199, 399, 799, 999, 999])
  assert.equal(top.attempts, 6)
  top.reset()
  assert.equal(top.attempts, 0)
  assert.equal(top.next(), 99)
})

test('full jitter spreads retries and never retries in the same tick', () => {
  const low = new WatchBackoff({ baseMs: 100, capMs: 1000, random: () => 0 })
  assert.equal(low.next(), 50)
  const real = new WatchBackoff({ baseMs: 100, capMs: 30_000 })
  for (let i = 0; i < 40; i++) {
    const ms = real.next()
    assert.ok(ms >= 50 && ms < 30_000, `${ms}`)
  }
})
