// Calico keeps `in {…}` values as a StringSet (parser/stringset.go): a Go []string sorted with sort.Strings, i.e.
// by UTF-8 bytes, then de-duplicated. UTF-8 byte order equals code point order, which differs from JavaScript's
// UTF-16 code unit order only for astral characters versus U+E000–U+FFFF, so the comparison below is explicit.

/** Orders two strings as Go's `<` does on their UTF-8 bytes (that is, by code point). */
export function compareUtf8 (a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) {
      // At the first differing code unit, the full code points decide (a surrogate pair counts as one).
      return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0)
    }
  }
  return a.length - b.length
}

/** Returns `values` sorted by UTF-8 bytes with duplicates removed, as Calico's ConvertToStringSetInPlace does. */
export function sortedStringSet (values: readonly string[]): readonly string[] {
  const sorted = [...values].sort(compareUtf8)
  const out: string[] = []
  for (const v of sorted) {
    if (out.length === 0 || out[out.length - 1] !== v) out.push(v)
  }
  return out
}
