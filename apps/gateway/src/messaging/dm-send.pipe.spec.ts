import crypto from 'node:crypto';
import { DomainError, schemas } from '@app/contracts';
import { ZodPipe } from '../common/zod.pipe';
import { DmSendPipe } from './dm-send.pipe';

/** A small seeded generator, so a failure names a case that replays. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const id = () => crypto.randomUUID();
const outcome = (pipe: { transform(v: unknown): unknown }, value: unknown) => {
  try {
    return { ok: pipe.transform(value) };
  } catch (err) {
    return { error: err instanceof DomainError ? err.toBody() : String(err) };
  }
};

describe('dm:send validation: the hand-written check agrees with the zod schema', () => {
  const fast = new DmSendPipe();
  const zod = new ZodPipe(schemas.dmSend);

  it('takes the usual payload itself, with ids lower-cased and unknown fields dropped', () => {
    const to = id().toUpperCase();
    const clientMsgId = id();
    const value = { to, clientMsgId, body: 'hi 👋', extra: { deep: true } };
    const expected = { to: to.toLowerCase(), clientMsgId, body: 'hi 👋' };
    expect(schemas.dmSendFast(value)).toEqual(expected);
    expect(Object.keys(schemas.dmSendFast(value)!)).toEqual(['to', 'clientMsgId', 'body']);
    expect(zod.transform(value)).toEqual(expected);
  });

  it("leaves to zod what it does not decide, and the error is zod's, word for word", () => {
    const good = { to: id(), clientMsgId: id(), body: 'x' };
    const bad: unknown[] = [
      null,
      undefined,
      'text',
      42,
      [good.to, good.clientMsgId, good.body],
      {},
      { ...good, to: 'not-a-uuid' },
      { ...good, to: `${good.to} ` },
      { ...good, clientMsgId: 7 },
      { ...good, body: '' },
      { ...good, body: 'x'.repeat(schemas.MAX_BODY_CHARS + 1) },
      { ...good, body: 'a\u0000b' },
      { ...good, body: 'lone \ud800 surrogate' },
      { ...good, body: ['x'] },
      { to: good.to, clientMsgId: good.clientMsgId },
    ];
    for (const value of bad) {
      expect(schemas.dmSendFast(value)).toBeUndefined();
      const viaFast = outcome(fast, value);
      expect(viaFast).toEqual(outcome(zod, value));
      expect(viaFast).toHaveProperty('error.code', 'VALIDATION_FAILED');
    }
    // Longer than MAX_BODY_CHARS UTF-16 units but within it in code points: zod decides, and accepts.
    const emoji = { ...good, body: '😀'.repeat(schemas.MAX_BODY_CHARS) };
    expect(schemas.dmSendFast(emoji)).toBeUndefined();
    expect(outcome(fast, emoji)).toEqual({ ok: emoji });
  });

  it('never accepts what zod refuses nor answers differently, over 5,000 generated payloads', () => {
    const random = rng(20261126);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const hex = '0123456789abcdefABCDEF';
    const uuidish = () => {
      const u = id();
      switch (Math.floor(random() * 8)) {
        case 0:
          return u.toUpperCase();
        case 1:
          return u.slice(0, -1);
        case 2:
          return u.replace(/-/g, '');
        case 3:
          return u.replace(/[0-9a-f]/, pick(['g', 'G', '-', ' ', 'é']));
        case 4:
          return `${u}${pick(['0', '\n', ' '])}`;
        case 5:
          return u.replace(/[0-9a-f]/g, () => pick(hex.split('')));
        default:
          return u;
      }
    };
    const bodyish = () => {
      const parts = ['a', 'é', '😀', '\ud800', '\udc00', '\u0000', ' ', '中', '\n'];
      const weights = random() < 0.7 ? 3 : parts.length;
      const len = pick([0, 1, 2, 10, 3999, 4000, 4001, 5000]);
      let s = '';
      for (let i = 0; i < len; i++) s += parts[Math.floor(random() * weights)];
      return s;
    };
    const field = (make: () => string) => (random() < 0.9 ? make() : pick([undefined, null, 1, true, {}, [], [make()]]));
    let fastTook = 0;
    for (let i = 0; i < 5_000; i++) {
      const value: Record<string, unknown> = { to: field(uuidish), clientMsgId: field(uuidish), body: field(bodyish) };
      if (random() < 0.1) value.extra = 'x';
      if (random() < 0.05) delete value[pick(['to', 'clientMsgId', 'body'])];
      const quick = schemas.dmSendFast(value);
      const full = schemas.dmSend.safeParse(value);
      if (quick !== undefined) {
        fastTook++;
        expect({ i, data: full.success ? full.data : full.error.issues }).toEqual({ i, data: quick });
      }
      expect({ i, ...outcome(fast, value) }).toEqual({ i, ...outcome(zod, value) });
    }
    // Sure to exercise both sides.
    expect(fastTook).toBeGreaterThan(200);
    expect(fastTook).toBeLessThan(5_000);
  });
});
