import { acceptRequestId, currentRequestId, runWithRequestId } from './request-context';

describe('request context', () => {
  it('follows the work of a request across awaits and timers, and is absent outside', async () => {
    expect(currentRequestId()).toBeUndefined();
    const seen = await runWithRequestId('req-1', async () => {
      await new Promise((r) => setTimeout(r, 1));
      return new Promise<string | undefined>((resolve) => setImmediate(() => resolve(currentRequestId())));
    });
    expect(seen).toBe('req-1');
    expect(currentRequestId()).toBeUndefined();
  });

  it('keeps concurrent requests apart', async () => {
    const ids = await Promise.all(
      ['a', 'b', 'c'].map((id, i) =>
        runWithRequestId(id, async () => {
          await new Promise((r) => setTimeout(r, 3 - i));
          return currentRequestId();
        }),
      ),
    );
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  it('accepts printable ids of reasonable length and replaces anything else', () => {
    expect(acceptRequestId('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    for (const bad of [undefined, '', 'has space', 'line\nbreak', 'x'.repeat(129), ['a'], 42]) {
      expect(acceptRequestId(bad)).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
