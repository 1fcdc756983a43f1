import { DomainError } from '@app/contracts';
import { advanceSyncCursor, decodeSyncCursor, encodeSyncCursor } from './sync-cursor';

const A = '0b6c1f7e-1111-4a4a-8a8a-000000000001';
const B = '0b6c1f7e-1111-4a4a-8a8a-000000000002';

describe('sync cursor', () => {
  it('round-trips the seen map', () => {
    const seen = { [A]: 3, [B]: 0 };
    expect(decodeSyncCursor(encodeSyncCursor(seen))).toEqual(seen);
  });

  it('starts from the beginning without a cursor', () => {
    expect(decodeSyncCursor(undefined)).toEqual({});
    expect(decodeSyncCursor('')).toEqual({});
  });

  it.each([
    'not base64 !',
    Buffer.from('not json').toString('base64url'),
    Buffer.from(JSON.stringify({ v: 2, s: {} })).toString('base64url'),
    Buffer.from(JSON.stringify({ v: 1, s: [] })).toString('base64url'),
    Buffer.from(JSON.stringify({ v: 1, s: { 'not-a-uuid': 1 } })).toString('base64url'),
    Buffer.from(JSON.stringify({ v: 1, s: { [A]: -1 } })).toString('base64url'),
    Buffer.from(JSON.stringify({ v: 1, s: { [A]: 1.5 } })).toString('base64url'),
    Buffer.from(JSON.stringify({ v: 1, s: { [A]: '1' } })).toString('base64url'),
    Buffer.from('null').toString('base64url'),
  ])('refuses %s as VALIDATION_FAILED on afterCursor', (cursor) => {
    let error: unknown;
    try {
      decodeSyncCursor(cursor);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('VALIDATION_FAILED');
    expect((error as DomainError).details).toEqual({ fields: [expect.objectContaining({ field: 'afterCursor' })] });
  });

  it('advances each conversation to the newest seq of the page and keeps the others', () => {
    const next = advanceSyncCursor({ [A]: 2, [B]: 7 }, [
      { conversationId: A, seq: 3 },
      { conversationId: A, seq: 4 },
      { conversationId: 'c', seq: 1 },
    ]);
    expect(next).toEqual({ [A]: 4, [B]: 7, c: 1 });
  });
});
