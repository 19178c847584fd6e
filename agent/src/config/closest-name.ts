// "Did you mean" for configuration keys, variables and enum values.
// TODO(#4): editDistance lives in cli/args.ts; it belongs in a leaf module that cli/ and config/ both import.
import { editDistance } from '../cli/args.js'

/** The candidate closest to `word` (a unique prefix wins), or undefined when nothing is close enough. */
export function closestName (word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase()
  const prefixed = candidates.filter(c => c.toLowerCase().startsWith(lower))
  if (prefixed.length === 1) return prefixed[0]
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase())
    if (d < bestDistance) { bestDistance = d; best = c }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}
