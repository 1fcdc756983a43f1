/**
 * Prefix and suffix checks on messages read from Redis, without decoding
 * them to strings: every process reads every message of a channel it
 * subscribes to, and most are skipped by their first or last bytes.
 */

/** Whether `raw` begins with `prefix` (and, with `strictly`, has more after it). */
export function bufferStartsWith(raw: Buffer, prefix: Buffer, strictly = false): boolean {
  const shortest = strictly ? prefix.length + 1 : prefix.length;
  return raw.length >= shortest && raw.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** Whether `raw` ends with `suffix` (and, with `strictly`, has more before it). */
export function bufferEndsWith(raw: Buffer, suffix: Buffer, strictly = false): boolean {
  const shortest = strictly ? suffix.length + 1 : suffix.length;
  return raw.length >= shortest && raw.compare(suffix, 0, suffix.length, raw.length - suffix.length) === 0;
}
