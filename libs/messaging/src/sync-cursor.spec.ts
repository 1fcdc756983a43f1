import { DomainError } from '@app/contracts';
import { decodeSyncCursor, encodePreviousSyncCursor, encodeSyncCursor } from './sync-cursor';

const A = '0b6c1f7e-1111-4a4a-8a8a-000000000001';
const B = '0b6c1f7e-1111-4a4a-8a8a-000000000002';
const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('sync cursor', () => {
  it('round-trips a position, in a few bytes whatever the position', () => {
    expect(decodeSyncCursor(encodeSyncCursor(0))).toEqual({ kind: 'position', position: 0 });
    expect(decodeSyncCursor(encodeSyncCursor(2_147_483_647))).toEqual({ kind: 'position', position: 2_147_483_647 });
    expect(encodeSyncCursor(2_147_483_647).length).toBeLessThan(40);
  });

  it('starts from the beginning without a cursor', () => {
    expect(decodeSyncCursor(undefined)).toEqual({ kind: 'position', position: 0 });
    expect(decodeSyncCursor('')).toEqual({ kind: 'position', position: 0 });
  });

  it('still reads the previous format (the highest seq seen per conversation)', () => {
    const seen = { [A]: 3, [B]: 0 };
    expect(decodeSyncCursor(encodePreviousSyncCursor(seen))).toEqual({ kind: 'seen', seen });
    expect(decodeSyncCursor(encodePreviousSyncCursor({ [A.toUpperCase()]: 1 }))).toEqual({ kind: 'seen', seen: { [A]: 1 } });
  });

  it.each([
    'not base64 !',
    Buffer.from('not json').toString('base64url'),
    raw({ v: 3, p: 1 }),
    raw({ v: 2 }),
    raw({ v: 2, p: -1 }),
    raw({ v: 2, p: 1.5 }),
    raw({ v: 2, p: '1' }),
    raw({ v: 2, p: 2_147_483_648 }),
    raw({ v: 2, p: 3e9 }),
    raw({ v: 2, p: 1e300 }),
    raw({ v: 1, s: [] }),
    raw({ v: 1, s: { 'not-a-uuid': 1 } }),
    raw({ v: 1, s: { [A]: -1 } }),
    raw({ v: 1, s: { [A]: 1.5 } }),
    raw({ v: 1, s: { [A]: '1' } }),
    raw({ v: 1, s: { [A]: 3e9 } }),
    raw({ v: 1, s: { [A]: Number.MAX_SAFE_INTEGER } }),
    raw([2, 1]),
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
});
