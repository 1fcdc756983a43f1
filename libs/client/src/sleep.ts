/** Resolves after `ms` milliseconds (at once for 0 or less): pacing traffic, backing off, polling. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
