import { ExpirySchedule } from './expiry-schedule';

describe(ExpirySchedule.name, () => {
  let now = 0;
  beforeEach(() => {
    jest.useFakeTimers();
    now = 10_000;
    jest.setSystemTime(now);
  });
  afterEach(() => jest.useRealTimers());

  const advance = (ms: number) => {
    now += ms;
    jest.advanceTimersByTime(ms);
  };

  it('fires each item once, never before its expiry and at most one slot after', () => {
    const fired: string[] = [];
    const schedule = new ExpirySchedule<string>(
      (item) => fired.push(item),
      () => now,
    );
    schedule.add('late', now + 1_000);
    schedule.add('early', now + 100);
    advance(99);
    expect(fired).toEqual([]);
    advance(200);
    expect(fired).toEqual(['early']);
    advance(600);
    expect(fired).toEqual(['early']);
    advance(300);
    expect(fired).toEqual(['early', 'late']);
    advance(5_000);
    expect(fired).toEqual(['early', 'late']);
  });

  it('forgets a removed item, and everything on clear', () => {
    const fired: string[] = [];
    const schedule = new ExpirySchedule<string>(
      (item) => fired.push(item),
      () => now,
    );
    schedule.add('a', now + 500);
    schedule.add('b', now + 500);
    schedule.add('c', now + 2_000);
    schedule.remove('a', now + 500);
    advance(1_000);
    expect(fired).toEqual(['b']);
    schedule.clear();
    advance(5_000);
    expect(fired).toEqual(['b']);
  });
});
