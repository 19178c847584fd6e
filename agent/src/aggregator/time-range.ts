// Goldmane's time-range convention, shared by every query: 0 = unbounded (for an upper bound: "now", which
// for a store of past intervals is the same), a positive value = absolute Unix seconds, a negative value =
// seconds relative to the server's now.

/** A resolved half-open range [fromSeconds, toSeconds) of flow start times; infinite where unbounded. */
export interface TimeRange {
  readonly fromSeconds: number
  readonly toSeconds: number
}

function resolveBound (value: number, nowSeconds: number, unbounded: number): number {
  if (value === 0) return unbounded
  return value < 0 ? nowSeconds + value : value
}

/** Resolves a (start_time_gte, start_time_lt) pair against `nowSeconds`. */
export function resolveTimeRange (startTimeGte: number, startTimeLt: number, nowSeconds: number): TimeRange {
  return {
    fromSeconds: resolveBound(startTimeGte, nowSeconds, -Infinity),
    toSeconds: resolveBound(startTimeLt, nowSeconds, Infinity)
  }
}

/** True when a flow starting at `startSeconds` lies in `range`. */
export function inTimeRange (range: TimeRange, startSeconds: number): boolean {
  return startSeconds >= range.fromSeconds && startSeconds < range.toSeconds
}
