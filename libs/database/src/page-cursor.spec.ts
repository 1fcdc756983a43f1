import { DomainError } from '@app/contracts';
import { decodePageCursor, encodePageCursor, offsetCursor, timeCursor, withinResponseBytes } from './page-cursor';

describe('page cursors', () => {
  it('read back what they encode', () => {
    const at = new Date().toISOString();
    const id = '6f1e2d3c-4b5a-4968-8776-655443322110';
    expect(decodePageCursor(encodePageCursor({ at, id }), timeCursor)).toEqual({ at, id });
    expect(decodePageCursor(encodePageCursor({ o: 200 }), offsetCursor)).toEqual({ o: 200 });
    expect(decodePageCursor(undefined, offsetCursor)).toBeUndefined();
  });

  it.each([
    ['junk', 'nonsense', offsetCursor],
    ['a negative offset', encodePageCursor({ o: -1 }), offsetCursor],
    ['a time that is not one', encodePageCursor({ at: 'yesterday', id: 'x' }), timeCursor],
    ['the other kind of cursor', encodePageCursor({ o: 5 }), timeCursor],
  ] as const)('refuse %s with VALIDATION_FAILED on cursor', (_, cursor, shape) => {
    let err: unknown;
    try {
      decodePageCursor(cursor, shape);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('VALIDATION_FAILED');
    expect((err as DomainError).details).toEqual({ fields: [{ field: 'cursor', message: 'unknown cursor' }] });
  });
});

describe(withinResponseBytes.name, () => {
  it('keeps the longest prefix under the limit, and always one item', () => {
    const item = { body: 'x'.repeat(1000) };
    const kept = withinResponseBytes(
      Array.from({ length: 100 }, () => item),
      50_000,
    );
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBeLessThan(50);
    expect(withinResponseBytes([{ body: 'y'.repeat(100_000) }], 50_000)).toHaveLength(1);
    expect(withinResponseBytes([item, item], 1_000_000)).toHaveLength(2);
  });
});
