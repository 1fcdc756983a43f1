import { RequestBatcher } from './request-batcher';
import { sleep } from '../../../test/support/wait';

function recorder(options: { maxBatch?: number; maxInFlight?: number; failBatch?: (inputs: number[]) => boolean } = {}) {
  const batches: number[][] = [];
  const ones: number[] = [];
  const batcher = new RequestBatcher<number, string>({
    maxBatch: options.maxBatch ?? 100,
    maxInFlight: options.maxInFlight ?? 1,
    runBatch: async (inputs) => {
      batches.push(inputs);
      await sleep(5);
      if (options.failBatch?.(inputs)) throw new Error('batch failed');
      return inputs.map((i) => `b${i}`);
    },
    runOne: async (input) => {
      ones.push(input);
      if (input < 0) throw new Error(`bad ${input}`);
      return `o${input}`;
    },
  });
  return { batcher, batches, ones };
}

describe('RequestBatcher', () => {
  it('runs the requests of one turn as one batch and answers each with its own result', async () => {
    const { batcher, batches } = recorder();
    expect(await Promise.all([1, 2, 3].map((i) => batcher.request(i)))).toEqual(['b1', 'b2', 'b3']);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('collects requests made while a batch runs into the next one, split at maxBatch', async () => {
    const { batcher, batches } = recorder({ maxBatch: 2 });
    const first = batcher.request(1);
    await new Promise((r) => setImmediate(r)); // the first batch is running now
    const later = [2, 3, 4].map((i) => batcher.request(i));
    expect(await Promise.all([first, ...later])).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(batches).toEqual([[1], [2, 3], [4]]);
  });

  it('retries a failed batch one input at a time, so only the bad input fails', async () => {
    const { batcher, ones } = recorder({ failBatch: (inputs) => inputs.includes(-1) });
    const results = await Promise.allSettled([1, -1, 2].map((i) => batcher.request(i)));
    expect(results).toEqual([
      { status: 'fulfilled', value: 'o1' },
      { status: 'rejected', reason: new Error('bad -1') },
      { status: 'fulfilled', value: 'o2' },
    ]);
    expect(ones.sort()).toEqual([-1, 1, 2]);
  });

  it('keeps at most maxInFlight batches running', async () => {
    let running = 0;
    let most = 0;
    const batcher = new RequestBatcher<number, number>({
      maxBatch: 1,
      maxInFlight: 2,
      runBatch: async (inputs) => {
        most = Math.max(most, ++running);
        await sleep(5);
        running--;
        return inputs;
      },
      runOne: async (i) => i,
    });
    expect(await Promise.all([1, 2, 3, 4, 5].map((i) => batcher.request(i)))).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  describe('with keysOf (the rows a batch locks)', () => {
    /** Inputs are "name:key1,key2"; each batch is held open until released. */
    function keyed(maxBatch = 100) {
      const batches: string[][] = [];
      const releases: (() => void)[] = [];
      const batcher = new RequestBatcher<string, string>({
        maxBatch,
        maxInFlight: 2,
        keysOf: (input) => input.split(':')[1].split(','),
        runBatch: async (inputs) => {
          batches.push(inputs.map((i) => i.split(':')[0]));
          await new Promise<void>((release) => releases.push(release));
          return inputs.map((i) => i.split(':')[0]);
        },
        runOne: async (input) => input,
      });
      const turn = () => new Promise((r) => setImmediate(r));
      return { batcher, batches, releases, turn };
    }

    /** A few turns: a finished batch's bookkeeping, then the next batch's start. */
    async function settled(turn: () => Promise<unknown>): Promise<void> {
      for (let i = 0; i < 3; i++) await turn();
    }

    it('never runs two batches that share a key: the second takes only inputs on other keys', async () => {
      const { batcher, batches, releases, turn } = keyed();
      const first = ['a1:alice,bob', 'c1:carol,dan'].map((i) => batcher.request(i));
      await turn();
      const later = ['a2:bob,alice', 'e1:erin,frank', 'c2:dan,carol'].map((i) => batcher.request(i));
      await turn();
      // Alice's, Bob's, Carol's and Dan's rows are held by the first batch; Erin's and Frank's are free.
      expect(batches).toEqual([['a1', 'c1'], ['e1']]);
      releases.shift()!();
      await Promise.all(first);
      await settled(turn);
      expect(batches).toEqual([['a1', 'c1'], ['e1'], ['a2', 'c2']]);
      releases.forEach((release) => release());
      expect(await Promise.all(later)).toEqual(['a2', 'e1', 'c2']);
    });

    it('keeps each key’s inputs in order: behind a waiting input go the later ones sharing a key with it', async () => {
      const { batcher, batches, releases, turn } = keyed();
      const running = batcher.request('a1:alice,bob');
      await turn();
      // b1 waits for Bob; b2 (Bob's too) and c1 (Carol's, as b1 is) wait behind it; e1 is free.
      const later = ['b1:bob,carol', 'e1:erin,frank', 'b2:bob,dan', 'c1:carol,gina'].map((i) => batcher.request(i));
      await turn();
      expect(batches).toEqual([['a1'], ['e1']]);
      releases.shift()!();
      await running;
      await settled(turn);
      expect(batches).toEqual([['a1'], ['e1'], ['b1', 'b2', 'c1']]);
      releases.forEach((release) => release());
      expect(await Promise.all(later)).toEqual(['b1', 'e1', 'b2', 'c1']);
    });

    it('still splits at maxBatch, the rest going in order into the next batches', async () => {
      const { batcher, batches, releases, turn } = keyed(2);
      const all = ['x1:x', 'y1:y', 'z1:z', 'x2:x'].map((i) => batcher.request(i));
      await settled(turn);
      // The second batch may not take x2 (x is held by the first), so it takes z1.
      expect(batches).toEqual([['x1', 'y1'], ['z1']]);
      releases.shift()!();
      await settled(turn);
      expect(batches).toEqual([['x1', 'y1'], ['z1'], ['x2']]);
      releases.forEach((release) => release());
      expect(await Promise.all(all)).toEqual(['x1', 'y1', 'z1', 'x2']);
    });
  });
});
