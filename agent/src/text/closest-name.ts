// "Did you mean": the one suggestion helper of the CLI flags, the configuration keys and the resource validator.
// A leaf module (no imports), so the pure `policy/` layer may use it too.

/** Optimal-string-alignment distance: Levenshtein where a transposition ("ingerss") counts as one edit. */
export function editDistance (a: string, b: string): number {
  let beforePrevious: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (beforePrevious[j - 2] as number) + 1)
      row.push(best)
    }
    beforePrevious = previous
    previous = row
  }
  return previous[b.length] as number
}

/** How `closestName` compares. */
export interface ClosestNameOptions {
  /** Compare without regard to case; an exact case-insensitive match then wins outright. */
  ignoreCase?: boolean
  /** A candidate that `word` is the unique prefix of wins (abbreviated flags: --prot → --protocol). */
  preferPrefix?: boolean
  /** Largest distance still suggested; default max(2, length / 3). */
  maxDistance?: number
}

/** The candidate closest to `word`, or undefined when nothing is close enough to be a plausible typo. */
export function closestName (word: string, candidates: readonly string[], options: ClosestNameOptions = {}): string | undefined {
  const fold = (s: string): string => options.ignoreCase === true ? s.toLowerCase() : s
  const w = fold(word)
  if (options.ignoreCase === true) {
    const same = candidates.find(c => fold(c) === w)
    if (same !== undefined) return same
  }
  if (options.preferPrefix === true) {
    const prefixed = candidates.filter(c => fold(c).startsWith(w))
    if (prefixed.length === 1) return prefixed[0]
  }
  const limit = options.maxDistance ?? Math.max(2, Math.floor(word.length / 3))
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(w, fold(c))
    if (d < bestDistance) { bestDistance = d; best = c }
  }
  return bestDistance <= limit ? best : undefined
}
