import crypto from 'node:crypto';

/**
 * A stable UUID for a (queue, key) pair, in the layout of a name-based
 * (version 5) UUID. Every process derives the same id for the same timer, so
 * any of them can re-arm it (a second insert is a no-op) or cancel it.
 */
export function jobIdFor(queue: string, key: string): string {
  // One-shot hash: a call's transitions derive up to nine of these.
  const hash = crypto.hash('sha1', `${queue}\u0000${key}`, 'buffer');
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
