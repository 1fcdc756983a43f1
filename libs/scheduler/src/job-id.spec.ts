import { jobIdFor } from './job-id';

describe(jobIdFor.name, () => {
  it('gives the same UUID for the same queue and key', () => {
    expect(jobIdFor('q', 'call:1:cap')).toBe(jobIdFor('q', 'call:1:cap'));
    expect(jobIdFor('q', 'call:1:cap')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives different UUIDs for different keys or queues', () => {
    const ids = new Set([jobIdFor('q', 'a'), jobIdFor('q', 'b'), jobIdFor('r', 'a'), jobIdFor('qa', ''), jobIdFor('q', 'a:')]);
    expect(ids.size).toBe(5);
  });
});
