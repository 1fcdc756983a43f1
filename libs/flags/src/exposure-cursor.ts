import { DomainError } from '@app/contracts';
import { isUuid } from './experiment-write.options';
import type { ExposurePosition } from './exposure.repository';

/**
 * The exposures list's cursor: opaque to clients, base64url JSON of the
 * last user and value handed out. Anything else is VALIDATION_FAILED.
 */
export function encodeExposureCursor(position: ExposurePosition): string {
  return Buffer.from(JSON.stringify({ u: position.userId, v: position.value })).toString('base64url');
}

export function decodeExposureCursor(cursor: string | undefined): ExposurePosition | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const position = parsed as { u?: unknown; v?: unknown } | null;
  if (
    typeof position !== 'object' ||
    position === null ||
    Array.isArray(position) ||
    Object.keys(position).length !== 2 ||
    !isUuid(position.u) ||
    typeof position.v !== 'boolean'
  ) {
    throw new DomainError('VALIDATION_FAILED', 'cursor is not one this server handed out', {
      fields: [{ field: 'cursor', message: 'unknown cursor' }],
    });
  }
  return { userId: position.u.toLowerCase(), value: position.v };
}
