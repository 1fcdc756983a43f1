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
});
