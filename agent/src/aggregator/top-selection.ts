// The `limit` smallest items of a stream under a total order, without sorting the whole stream: a List page
// deep in a million results needs only (page + 1) × pageSize of them in order. Candidates are appended to a
// buffer; when the buffer holds twice the limit it is sorted and cut back to the limit, and its last item
// becomes the threshold a caller checks before it even builds a candidate (most are rejected by one comparison).
// Amortized O(n + m log limit) for n offers of which m pass the threshold; with an infinite limit it is one sort.

/** Keeps the `limit` smallest items offered, by `compare` (which must be a total order: no two items equal). */
export class TopSelection<T> {
  private items: T[] = []
  private worstKept: T | undefined
  private readonly pruneAt: number

  constructor (readonly limit: number, private readonly compare: (a: T, b: T) => number) {
    if (!(limit >= 0)) throw new RangeError(`limit must not be negative, got ${limit}`)
    // Small limits still buffer a few hundred items so that pruning (a sort) stays rare.
    this.pruneAt = Number.isFinite(limit) ? Math.max(2 * limit, limit + 256) : Infinity
  }

  /**
   * The item every new candidate must sort before to be kept, once the buffer has been cut to the limit at least
   * once (undefined before: everything is kept for now). Lets callers skip building rejected candidates.
   */
  get threshold (): T | undefined { return this.worstKept }

  /** Offers an item; false when it is known not to be among the `limit` smallest. */
  offer (item: T): boolean {
    if (this.limit === 0) return false
    if (this.worstKept !== undefined && this.compare(item, this.worstKept) >= 0) return false
    this.items.push(item)
    if (this.items.length >= this.pruneAt) this.prune()
    return true
  }

  /** The kept items, smallest first (at most `limit`). The selection stays usable. */
  sorted (): T[] {
    this.items.sort(this.compare)
    if (this.items.length > this.limit) this.items.length = this.limit
    return this.items
  }

  private prune (): void {
    this.items.sort(this.compare)
    this.items.length = this.limit
    this.worstKept = this.items[this.limit - 1]
  }
}
