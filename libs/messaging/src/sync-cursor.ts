import { DomainError, schemas } from '@app/contracts';
import type { SeenSeqs } from './message.repository';

/**
 * The dm:sync cursor: a position in the user's inbox order (every message
 * the user sent or received, all conversations). Positions commit in order
 * and without gaps, so "position > cursor" never skips a committed message,
 * and the cursor has the same small size however many conversations there
 * are. Clients treat it as an opaque string.
 *
 * The previous format (version 1) held the highest seq seen per
 * conversation, and grew with every conversation; it is still read, once,
 * and answered with a cursor of this format.
 */
const VERSION = 2;
const { MAX_INT32 } = schemas;
const PREVIOUS_VERSION = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type SyncPosition = { kind: 'position'; position: number } | { kind: 'seen'; seen: SeenSeqs };

export function encodeSyncCursor(position: number): string {
  return Buffer.from(JSON.stringify({ v: VERSION, p: position }), 'utf8').toString('base64url');
}

/** The previous format, kept for tests of compatibility: what clients of the previous version hold. */
export function encodePreviousSyncCursor(seen: SeenSeqs): string {
  return Buffer.from(JSON.stringify({ v: PREVIOUS_VERSION, s: seen }), 'utf8').toString('base64url');
}

/** Undefined or empty: from the beginning. Anything not made by this server (or its previous version): VALIDATION_FAILED. */
export function decodeSyncCursor(cursor: string | undefined): SyncPosition {
  if (cursor === undefined || cursor === '') return { kind: 'position', position: 0 };
  const invalid = () =>
    new DomainError('VALIDATION_FAILED', 'afterCursor is not a cursor this server returned', {
      fields: [{ field: 'afterCursor', message: 'must be a cursor from an earlier dm:sync' }],
    });
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  // Every number is bounded by the integer columns it is compared with: a larger one is no cursor of ours.
  const isPosition = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_INT32;
  const p = parsed as { v?: unknown; s?: unknown; p?: unknown };
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw invalid();
  if (p.v === VERSION) {
    if (!isPosition(p.p)) throw invalid();
    return { kind: 'position', position: p.p };
  }
  if (p.v !== PREVIOUS_VERSION || !p.s || typeof p.s !== 'object' || Array.isArray(p.s)) throw invalid();
  const seen: SeenSeqs = {};
  for (const [conversationId, seq] of Object.entries(p.s as Record<string, unknown>)) {
    if (!UUID.test(conversationId) || !isPosition(seq)) throw invalid();
    seen[conversationId.toLowerCase()] = seq;
  }
  return { kind: 'seen', seen };
}
