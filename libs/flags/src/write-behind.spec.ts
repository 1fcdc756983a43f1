import { createRootLogger } from '@app/observability';
import { WriteBehind, WriteBehindOptions } from './write-behind';

interface Counted {
  key: string;
  count: number;
}

const logger = createRootLogger('silent');

/** A buffer whose writes land in `written` (or fail while `failing` is set). */
function buffer(overrides: Partial<WriteBehindOptions<Counted>> = {}) {
  const written: Counted[][] = [];
  const state = { failing: false, writes: 0 };
  const dropped: number[] = [];
  const wb = new WriteBehind<Counted>({
    name: 'spec',
    // Long enough that nothing is written by the timer during a test: flushes are explicit.
    flushIntervalMs: 60_000,
    maxEntries: 3,
    maxAttempts: 3,
    write: async (entries) => {
      state.writes += 1;
      if (state.failing) throw new Error('database down');
      written.push(entries.map((e) => ({ ...e })));
    },
    merge: (a, b) => ({ key: a.key, count: a.count + b.count }),
    logger,
    onDropped: (n) => dropped.push(n),
    ...overrides,
  });
  const add = (key: string, count = 1) => wb.add(key, { key, count });
  return { wb, add, written, state, dropped };
}

describe(WriteBehind.name, () => {
  it('folds entries of one key together and writes them in one batch', async () => {
    const { wb, add, written } = buffer();
    add('a');
    add('b');
    add('a', 2);
    add('a');
    expect(wb.size).toBe(2);
    await wb.flush();
    expect(written).toEqual([
      [
        { key: 'a', count: 4 },
        { key: 'b', count: 1 },
      ],
    ]);
    expect(wb.size).toBe(0);
    await wb.flush();
    expect(written).toHaveLength(1);
  });

  it('holds at most maxEntries keys: new keys beyond it are dropped and counted, known keys still add up', async () => {
    const { wb, add, written, dropped } = buffer();
    add('a');
    add('b');
    add('c');
    add('d');
    add('e');
    add('a', 5);
    expect(wb.size).toBe(3);
    expect(wb.droppedCount).toBe(2);
    expect(dropped).toEqual([1, 1]);
    await wb.flush();
    expect(written[0]).toEqual([
      { key: 'a', count: 6 },
      { key: 'b', count: 1 },
      { key: 'c', count: 1 },
    ]);
    // Room again once written.
    add('d');
    expect(wb.size).toBe(1);
  });

  it('keeps a failed batch, merged with what arrived meanwhile, and writes it on the next try', async () => {
    const { wb, add, written, state } = buffer();
    add('a');
    state.failing = true;
    await expect(wb.flush()).resolves.toBeUndefined();
    expect(wb.size).toBe(1);
    add('a');
    add('b');
    state.failing = false;
    await wb.flush();
    expect(written).toEqual([
      [
        { key: 'a', count: 2 },
        { key: 'b', count: 1 },
      ],
    ]);
  });

  it('gives a batch up after maxAttempts failures in a row, so one bad batch cannot block the rest', async () => {
    const { wb, add, written, state } = buffer();
    add('poison');
    state.failing = true;
    await wb.flush();
    await wb.flush();
    expect(wb.size).toBe(1);
    await wb.flush();
    expect(state.writes).toBe(3);
    expect(wb.size).toBe(0);
    expect(wb.droppedCount).toBe(1);
    state.failing = false;
    add('next');
    await wb.flush();
    expect(written).toEqual([[{ key: 'next', count: 1 }]]);
  });

  it('writes by itself after flushIntervalMs', async () => {
    const { add, written } = buffer({ flushIntervalMs: 5 });
    const wrote = new Promise<void>((resolve) => {
      const wait = () => (written.length > 0 ? resolve() : setTimeout(wait, 5));
      wait();
    });
    add('a');
    add('a');
    await wrote;
    expect(written).toEqual([[{ key: 'a', count: 2 }]]);
  });

  it('writes what is waiting at stop, and anything added after stop at once', async () => {
    const { wb, add, written } = buffer();
    add('a');
    add('b');
    await wb.stop();
    expect(written).toEqual([
      [
        { key: 'a', count: 1 },
        { key: 'b', count: 1 },
      ],
    ]);
    add('late');
    await wb.flush();
    expect(written[1]).toEqual([{ key: 'late', count: 1 }]);
  });

  it('a flush waits for a write under way, so nothing is written twice or out of order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batches: string[][] = [];
    const wb = new WriteBehind<Counted>({
      name: 'spec',
      flushIntervalMs: 60_000,
      maxEntries: 10,
      maxAttempts: 3,
      write: async (entries) => {
        batches.push(entries.map((e) => e.key));
        if (batches.length === 1) await gate;
      },
      merge: (a, b) => ({ key: a.key, count: a.count + b.count }),
      logger,
    });
    wb.add('a', { key: 'a', count: 1 });
    const first = wb.flush();
    wb.add('b', { key: 'b', count: 1 });
    const second = wb.flush();
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([['a']]);
    release();
    await Promise.all([first, second]);
    expect(batches).toEqual([['a'], ['b']]);
  });
});
