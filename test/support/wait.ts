/** The one set of waiting helpers for specs: poll for a condition, never assert on elapsed time. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `check` until it holds; throws naming `what` when it has not after
 * `timeoutMs` (default 30 s).
 */
export function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs?: number | WaitOptions): Promise<void>;
/**
 * Polls `probe` until it gives a value (not undefined, null or false) and
 * returns it (default 10 s): a probe written as a condition waits for it.
 */
export function waitUntil<T>(
  probe: () => Promise<T | undefined | null> | T | undefined | null,
  timeoutMs?: number | WaitOptions,
): Promise<T>;
export async function waitUntil<T>(
  first: string | (() => Promise<T | undefined | null> | T | undefined | null),
  second?: (() => Promise<boolean> | boolean) | number | WaitOptions,
  third?: number | WaitOptions,
): Promise<T | void> {
  if (typeof first === 'string') {
    const check = second as () => Promise<boolean> | boolean;
    const { timeoutMs = 30_000, intervalMs = 100 } = optionsOf(third);
    await poll(async () => ((await check()) ? true : undefined), `timed out waiting for ${first}`, timeoutMs, intervalMs);
    return;
  }
  const { timeoutMs = 10_000, intervalMs = 50 } = optionsOf(second as number | WaitOptions | undefined);
  return poll(
    async () => {
      const value = await first();
      return value === false ? undefined : value;
    },
    'condition not met in time',
    timeoutMs,
    intervalMs,
  );
}

/**
 * Polls `probe` until it gives a value other than undefined (null counts as
 * a value): a condition in another process or the database, not a time.
 */
export async function waitForValue<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const found = await poll(
    async () => {
      const value = await probe();
      return value === undefined ? undefined : { value };
    },
    'condition not met in time',
    timeoutMs,
    50,
  );
  return found.value;
}

function optionsOf(value: number | WaitOptions | undefined): WaitOptions {
  return typeof value === 'number' ? { timeoutMs: value } : (value ?? {});
}

async function poll<T>(
  probe: () => Promise<T | undefined | null> | T | undefined | null,
  failure: string,
  timeoutMs: number,
  intervalMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > deadline) throw new Error(failure);
    await sleep(intervalMs);
  }
}

/** A matcher for a measured tone frequency: within `toleranceHz` of `targetHz` (null is no tone). */
export function near(targetHz: number, toleranceHz = 15): (frequency: number | null) => boolean {
  return (frequency) => frequency !== null && Math.abs(frequency - targetHz) <= toleranceHz;
}
