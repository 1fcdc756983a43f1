import { z } from 'zod';
import { DomainError, MAX_RESPONSE_BYTES } from '@app/contracts';

/**
 * List cursors are opaque to clients: base64url JSON of where the next page
 * starts. Anything else sent as a cursor is VALIDATION_FAILED.
 */
export function encodePageCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodePageCursor<S extends z.ZodTypeAny>(cursor: string | undefined, shape: S): z.infer<S> | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = shape.safeParse(parsed);
  if (!result.success) {
    throw new DomainError('VALIDATION_FAILED', 'cursor is not one this server handed out', {
      fields: [{ field: 'cursor', message: 'unknown cursor' }],
    });
  }
  return result.data;
}

/** Where an offset-paged list continues. */
export const offsetCursor = z.object({ o: z.number().int().min(0).max(1_000_000) });
/** Where a newest-first list continues: after the item created at `at` with id `id`. */
export const timeCursor = z.object({ at: z.string().datetime(), id: z.string().uuid() });

// Room for the envelope and the fields around the list.
const ENVELOPE_BYTES = 16 * 1024;

/**
 * The longest prefix of `items` whose JSON stays within the response limit
 * (at least one item: a single item is always far below it).
 */
export function withinResponseBytes<T>(items: T[], maxBytes = MAX_RESPONSE_BYTES): T[] {
  let bytes = ENVELOPE_BYTES;
  for (let i = 0; i < items.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(items[i])) + 1;
    if (bytes > maxBytes && i > 0) return items.slice(0, i);
  }
  return items;
}
