// Capped exponential backoff with full jitter (the AWS architecture blog's "full jitter"): after the n-th
// consecutive failure wait a random time in [0, min(cap, base·2^n)), so that a fleet of agents restarted together
// does not hammer a recovering API server in lockstep. A success resets it.

export interface WatchBackoffOptions {
  baseMs?: number
  capMs?: number
  /** Random source in [0, 1) (tests make it deterministic). */
  random?: () => number
}

/** Delay before the next retry of one watch. */
export class WatchBackoff {
  private failures = 0
  private readonly baseMs: number
  private readonly capMs: number
  private readonly random: () => number

  constructor (options: WatchBackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 500
    this.capMs = options.capMs ?? 30_000
    this.random = options.random ?? Math.random
  }

  /** Consecutive failures so far. */
  get attempts (): number { return this.failures }

  /** Records a failure and returns how long to wait before the next attempt. */
  next (): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures, 30))
    this.failures++
    // Never zero: a retry in the same tick as the failure would spin on an API server that closes at once.
    return Math.max(50, Math.floor(this.random() * ceiling))
  }

  reset (): void { this.failures = 0 }
}
