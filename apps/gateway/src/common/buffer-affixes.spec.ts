import { bufferEndsWith, bufferStartsWith } from './buffer-affixes';

const b = (s: string) => Buffer.from(s);

describe('bufferStartsWith / bufferEndsWith', () => {
  it('compares bytes at the start and at the end', () => {
    expect(bufferStartsWith(b('\x01uid\x1froom'), b('\x01uid\x1f'))).toBe(true);
    expect(bufferStartsWith(b('\x01uie\x1froom'), b('\x01uid\x1f'))).toBe(false);
    expect(bufferEndsWith(b('{"a":1,"uid":"x"}'), b('"x"}'))).toBe(true);
    expect(bufferEndsWith(b('{"a":1,"uid":"y"}'), b('"x"}'))).toBe(false);
  });

  it('takes a message shorter than the affix as no match, and an equal one only when not strict', () => {
    expect(bufferStartsWith(b('ab'), b('abc'))).toBe(false);
    expect(bufferEndsWith(b('bc'), b('abc'))).toBe(false);
    expect(bufferStartsWith(b('abc'), b('abc'))).toBe(true);
    expect(bufferStartsWith(b('abc'), b('abc'), true)).toBe(false);
    expect(bufferEndsWith(b('abc'), b('abc'), true)).toBe(false);
    expect(bufferEndsWith(b('xabc'), b('abc'), true)).toBe(true);
  });
});
