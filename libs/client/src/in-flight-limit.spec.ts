import { InFlightLimit } from './in-flight-limit';

describe('InFlightLimit', () => {
  it('runs at most its limit at once, the others in the order they asked, also after a task fails', async () => {
    const limit = new InFlightLimit(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      if (i === 1) throw new Error('task 1 failed');
      return i;
    };
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => limit.run(task(i))));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual(['failed', 2, 3, 4, 5]);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
    // Every slot came back: the limit still lets two run at once.
    most = 0;
    await Promise.all([6, 7].map((i) => limit.run(task(i))));
    expect(most).toBe(2);
  });
});
