import { DomainError } from '@app/contracts';
import { decodeExposureCursor, encodeExposureCursor } from './exposure-cursor';

const alice = '11111111-1111-4111-8111-111111111111';

function refusal(cursor: string): string | undefined {
  try {
    decodeExposureCursor(cursor);
    return undefined;
  } catch (err) {
    return err instanceof DomainError ? err.code : 'not a domain error';
  }
}

describe('exposure cursor', () => {
  it('gives back the position it was made from', () => {
    for (const value of [true, false]) {
      const cursor = encodeExposureCursor({ userId: alice, value });
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeExposureCursor(cursor)).toEqual({ userId: alice, value });
    }
    expect(decodeExposureCursor(undefined)).toBeUndefined();
  });

  it.each([
    ['not base64 json', 'abc'],
    ['json but not an object', Buffer.from('[1,2]').toString('base64url')],
    ['null', Buffer.from('null').toString('base64url')],
    ['a user that is not a uuid', Buffer.from(JSON.stringify({ u: 'x', v: true })).toString('base64url')],
    ['a value that is not boolean', Buffer.from(JSON.stringify({ u: alice, v: 'true' })).toString('base64url')],
    ['an extra field', Buffer.from(JSON.stringify({ u: alice, v: true, o: 1 })).toString('base64url')],
    ['another list cursor', Buffer.from(JSON.stringify({ o: 50 })).toString('base64url')],
  ])('refuses %s with VALIDATION_FAILED', (_what, cursor) => {
    expect(refusal(cursor)).toBe('VALIDATION_FAILED');
  });
});
