// Hash tables from three 32-bit integers, with the keys in one typed array (open addressing, linear probing): a
// lookup reads one or two cache lines of contiguous memory instead of chasing a Map's entries and the objects
// behind them. Only insert, overwrite and clear-all — what a cache that starts over at its bound needs.
// IntKeyIndex holds a small integer in the slot itself (the policy engine's per-end verdict cache: canonical entry
// numbers); IntKeyTable any value, by index (the flow-log aggregator's flow shapes, on every new flow).

const INITIAL_SLOTS = 1 << 12
/** Words per slot: the three key words and the value + 1 (0: empty). */
const WORDS = 4

/**
 * Three 32-bit integers → a non-negative integer (below 2^31 - 1) held in the slot itself: a hit reads one cache
 * line and nothing else. For values that are indexes into a small, hot array (the per-end verdict cache's
 * canonical entries) this saves the per-entry value array's cache miss that IntKeyTable pays.
 */
export class IntKeyIndex {
  private words: Int32Array
  private mask: number
  private count = 0

  /** `initialSlots` (a power of two) for tables that are many and mostly small. */
  constructor (private readonly initialSlots = INITIAL_SLOTS) {
    this.words = new Int32Array(initialSlots * WORDS)
    this.mask = initialSlots - 1
  }

  /** Entries held. */
  get size (): number { return this.count }

  /** The value under (a, b, c), or -1. */
  find (a: number, b: number, c: number): number {
    const words = this.words
    const mask = this.mask
    for (let slot = hash(a, b, c) & mask; ; slot = (slot + 1) & mask) {
      const o = slot * WORDS
      const v = words[o + 3] as number
      if (v === 0) return -1
      if (words[o] === (a | 0) && words[o + 1] === (b | 0) && words[o + 2] === (c | 0)) return v - 1
    }
  }

  /** Files `value` under (a, b, c) unless the key is there: returns the value already filed, or -1 when added. */
  insert (a: number, b: number, c: number, value: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow()
    const words = this.words
    const mask = this.mask
    for (let slot = hash(a, b, c) & mask; ; slot = (slot + 1) & mask) {
      const o = slot * WORDS
      const v = words[o + 3] as number
      if (v === 0) {
        words[o] = a
        words[o + 1] = b
        words[o + 2] = c
        words[o + 3] = value + 1
        this.count++
        return -1
      }
      if (words[o] === (a | 0) && words[o + 1] === (b | 0) && words[o + 2] === (c | 0)) return v - 1
    }
  }

  /**
   * Forgets everything and gives the memory of a grown table back — unless `keepSlots`: a cache emptied at its
   * bound fills up to it again, and zeroing the slots (sequential) is far cheaper than growing the table back
   * through every doubling (each re-places every entry at random).
   */
  clear (keepSlots = false): void {
    if (keepSlots) this.words.fill(0)
    else {
      this.words = new Int32Array(this.initialSlots * WORDS)
      this.mask = this.initialSlots - 1
    }
    this.count = 0
  }

  /** Twice the slots, entries placed again (the table stays at most half full: short probe runs). */
  private grow (): void {
    const old = this.words
    const slots = (this.mask + 1) * 2
    const words = new Int32Array(slots * WORDS)
    const mask = slots - 1
    for (let o = 0; o < old.length; o += WORDS) {
      const v = old[o + 3] as number
      if (v === 0) continue
      let slot = hash(old[o] as number, old[o + 1] as number, old[o + 2] as number) & mask
      while (words[slot * WORDS + 3] !== 0) slot = (slot + 1) & mask
      words.set(old.subarray(o, o + WORDS), slot * WORDS)
    }
    this.words = words
    this.mask = mask
  }
}

/** Three 32-bit integers → any value (kept in an array, the slot holds its index). */
export class IntKeyTable<T> extends IntKeyIndex {
  private values: T[] = []

  /** The value under (a, b, c), or undefined. */
  get (a: number, b: number, c: number): T | undefined {
    const i = this.find(a, b, c)
    return i < 0 ? undefined : this.values[i]
  }

  /** Puts `value` under (a, b, c), replacing what was there. */
  set (a: number, b: number, c: number, value: T): void {
    const i = this.insert(a, b, c, this.values.length)
    if (i < 0) this.values.push(value)
    else this.values[i] = value
  }

  override clear (keepSlots = false): void {
    super.clear(keepSlots)
    this.values = []
  }
}

function hash (a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f)
  return (h ^ (h >>> 15)) >>> 0
}
