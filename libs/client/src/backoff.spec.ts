import { Backoff, backoffCeiling } from './backoff';
import { BoundedMap } from './bounded-map';
import { MessagesApi } from './messages';
import type { SocialClient } from './social-client';
import type { MessageDto } from '@app/contracts';

/** A fixed sequence of draws, repeated: the schedule is then exact. */
function draws(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('reconnect backoff', () => {
  it('doubles its ceiling from 250 ms and never exceeds 30 s', () => {
    const ceilings = Array.from({ length: 12 }, (_, i) => backoffCeiling(i + 1));
    expect(ceilings).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
    expect(backoffCeiling(5000)).toBe(30_000);
  });

  it('draws each delay uniformly below the ceiling (full jitter)', () => {
    const backoff = new Backoff({ random: draws(0.5, 0, 0.999, 0.25) });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    expect(delays).toEqual([125, 0, 999, 500, 2000, 0, 15984, 7500]);
    expect(backoff.attempts).toBe(8);
  });

  it('starts again from the smallest ceiling after a success', () => {
    const backoff = new Backoff({ random: () => 1 });
    for (let i = 0; i < 6; i++) backoff.next();
    expect(backoff.next()).toBe(16_000);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(250);
  });

  it('spreads a crowd of clients over the whole window', () => {
    // 1000 clients drawing their 6th delay with a seeded generator: the spread covers the ceiling.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const delays = Array.from({ length: 1000 }, () => {
      const backoff = new Backoff({ random });
      for (let i = 0; i < 5; i++) backoff.next();
      return backoff.next();
    });
    expect(Math.min(...delays)).toBeLessThan(400);
    expect(Math.max(...delays)).toBeGreaterThan(7600);
    const firstHalf = delays.filter((d) => d < 4000).length;
    expect(firstHalf).toBeGreaterThan(400);
    expect(firstHalf).toBeLessThan(600);
  });

  it('honours its own options and clamps a bad draw', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 35, factor: 3, random: draws(1.5, -1, 1) });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([10, 0, 35]);
  });
});

describe('bounded memory', () => {
  it('keeps the most recently set entries of a BoundedMap', () => {
    const map = new BoundedMap<string, number>(3);
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) map.set(key, i);
    expect([...map.values()]).toEqual([1, 2, 3]);
    map.set('b', 9); // refreshed: now the newest
    map.set('e', 4);
    expect(map.has('c')).toBe(false);
    expect([...map.values()]).toEqual([3, 9, 4]);
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });

  it('keeps the inbox at its capacity however many messages arrive, still deduplicating recent ones', () => {
    let push: (payload: { message: MessageDto }) => void = () => undefined;
    const fakeClient = {
      id: 'me',
      on: (_event: string, handler: typeof push) => {
        push = handler;
        return () => undefined;
      },
    } as unknown as SocialClient;
    const inbox = new MessagesApi(fakeClient, 100);
    const delivered: string[] = [];
    inbox.onMessage((m) => delivered.push(m.id));
    const message = (n: number): { message: MessageDto } => ({
      message: {
        id: `m${n}`,
        conversationId: 'conv',
        senderId: 'peer',
        recipientId: 'me',
        seq: n,
        body: 'hi',
        clientMsgId: `c${n}`,
        createdAt: new Date(0).toISOString(),
        kind: 'text',
      },
    });

    for (let n = 1; n <= 10_000; n++) push(message(n));
    expect(inbox.capacity).toBe(100);
    expect(inbox.inbox).toHaveLength(100);
    expect(inbox.inbox[0].id).toBe('m9901');
    expect(delivered).toHaveLength(10_000);
    // A recent message heard again (a push and a sync page crossing) is not delivered twice.
    push(message(9_999));
    expect(delivered).toHaveLength(10_000);
  });
});
