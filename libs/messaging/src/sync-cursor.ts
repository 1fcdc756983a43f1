import { DomainError } from '@app/contracts';
import type { SeenSeqs } from './message.repository';

/**
 * The dm:sync cursor: for each conversation, the highest seq the client has.
 * Per-conversation seqs commit in order and without gaps, so "seq > seen"
 * can never skip a committed message, which a global id or a timestamp
 * could. Clients treat it as an opaque string.
 */
const VERSION = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeSyncCursor(seen: SeenSeqs): string {
  return Buffer.from(JSON.stringify({ v: VERSION, s: seen }), 'utf8').toString('base64url');
}

/** Undefined or empty: from the beginning. Anything not made by encodeSyncCursor: VALIDATION_FAILED. */
export function decodeSyncCursor(cursor: string | undefined): SeenSeqs {
  if (cursor === undefined || cursor === '') return {};
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
  const p = parsed as { v?: unknown; s?: unknown };
  if (!p || typeof p !== 'object' || p.v !== VERSION || !p.s || typeof p.s !== 'object' || Array.isArray(p.s)) {
    throw invalid();
  }
  const seen: SeenSeqs = {};
  for (const [conversationId, seq] of Object.entries(p.s as Record<string, unknown>)) {
    if (!UUID.test(conversationId) || !Number.isSafeInteger(seq) || (seq as number) < 0) throw invalid();
    seen[conversationId.toLowerCase()] = seq as number;
  }
  return seen;
}

/** The cursor after a page: each conversation's seen seq raised to the newest seq in the page. */
export function advanceSyncCursor(seen: SeenSeqs, page: { conversationId: string; seq: number }[]): SeenSeqs {
  const next = { ...seen };
  for (const m of page) next[m.conversationId] = Math.max(next[m.conversationId] ?? 0, m.seq);
  return next;
}
