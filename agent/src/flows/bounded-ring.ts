// A fixed-capacity ring of the most recent items with increasing sequence numbers, so readers can ask for
// "everything after N" (follow mode) and know when they fell behind. Overwritten items are counted.

/** An item and its sequence number (1, 2, 3, … in insertion order). */
export interface Sequenced<T> {
  readonly seq: number
  readonly item: T
}

/** What readers of a ring need: the past by sequence number and a live feed (BoundedRing, RecentRawFlows). */
export interface SequencedRing<T> {
  readonly capacity: number
  readonly size: number
  readonly next: number
  /** Items pushed out by newer ones. */
  readonly overwritten: number
  since: (after?: number) => Array<Sequenced<T>>
  subscribe: (listener: (entry: Sequenced<T>) => void) => () => void
}

/** The most recent `capacity` items. */
export class BoundedRing<T> implements SequencedRing<T> {
  private readonly slots: Array<Sequenced<T> | undefined>
  private nextSeq = 1
  /** Items pushed out by newer ones. */
  overwritten = 0
  private readonly listeners = new Set<(entry: Sequenced<T>) => void>()

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`)
    this.slots = new Array<Sequenced<T> | undefined>(capacity)
  }

  /** Adds an item; returns its sequence number. Listeners are called synchronously. */
  push (item: T): number {
    const seq = this.nextSeq++
    const index = seq % this.capacity
    if (this.slots[index] !== undefined) this.overwritten++
    const entry = { seq, item }
    this.slots[index] = entry
    for (const listener of this.listeners) listener(entry)
    return seq
  }

  /** Number of items held. */
  get size (): number { return Math.min(this.nextSeq - 1, this.capacity) }

  /** The sequence number the next item will get. */
  get next (): number { return this.nextSeq }

  /** Items with seq > `after`, oldest first. */
  since (after = 0): Array<Sequenced<T>> {
    const out: Array<Sequenced<T>> = []
    const first = Math.max(after + 1, this.nextSeq - this.capacity, 1)
    for (let seq = first; seq < this.nextSeq; seq++) {
      const entry = this.slots[seq % this.capacity]
      if (entry !== undefined && entry.seq === seq) out.push(entry)
    }
    return out
  }

  /** Calls `listener` for every item pushed from now on; returns the unsubscribe function. */
  subscribe (listener: (entry: Sequenced<T>) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}
