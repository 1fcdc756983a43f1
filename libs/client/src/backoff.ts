/**
 * Reconnect delays: exponential growth with "full jitter" (each delay drawn
 * uniformly between 0 and the current ceiling). A server restart then brings
 * its clients back spread over the ceiling, not all in the same instant.
 */
export interface BackoffOptions {
  /** Ceiling of the first delay (default 250 ms). */
  initialMs?: number;
  /** Ceiling never exceeded, however many attempts (default 30 s). */
  maxMs?: number;
  /** Growth of the ceiling per attempt (default 2). */
  factor?: number;
  /** A number in [0, 1); injectable so a schedule can be checked (default Math.random). */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 30_000, factor: 2 } as const;

/** The ceiling for the `attempt`-th retry (1-based): initialMs·factor^(attempt−1), at most maxMs. */
export function backoffCeiling(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const factor = options.factor ?? DEFAULT_BACKOFF.factor;
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // Beyond a few dozen attempts the power overflows to Infinity; min() keeps the cap.
  return Math.min(maxMs, initialMs * factor ** exponent);
}

/** Counts attempts since the last success and draws the next delay. */
export class Backoff {
  private failures = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next attempt, in whole milliseconds within [0, ceiling]. */
  next(): number {
    this.failures++;
    const random = this.options.random ?? Math.random;
    const draw = Math.min(Math.max(random(), 0), 1);
    return Math.round(draw * backoffCeiling(this.failures, this.options));
  }

  /** After a success: the next failure starts again from the smallest ceiling. */
  reset(): void {
    this.failures = 0;
  }
}
