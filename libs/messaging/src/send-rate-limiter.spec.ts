import { TokenBuckets } from './send-rate-limiter';

describe(TokenBuckets.name, () => {
  it('allows a burst, then refuses with the wait until the next token', () => {
    const sut = new TokenBuckets(2, 3);
    expect([sut.take('u', 0), sut.take('u', 0), sut.take('u', 0)]).toEqual([0, 0, 0]);
    expect(sut.take('u', 0)).toBe(500);
    expect(sut.take('u', 250)).toBe(250);
    expect(sut.take('u', 500)).toBe(0);
    expect(sut.take('u', 500)).toBe(500);
  });

  it('keeps users apart', () => {
    const sut = new TokenBuckets(1, 1);
    expect(sut.take('a', 0)).toBe(0);
    expect(sut.take('a', 0)).toBeGreaterThan(0);
    expect(sut.take('b', 0)).toBe(0);
  });

  it('never holds more than the burst after a long pause', () => {
    const sut = new TokenBuckets(10, 2);
    sut.take('u', 0);
    expect([sut.take('u', 60_000), sut.take('u', 60_000)]).toEqual([0, 0]);
    expect(sut.take('u', 60_000)).toBeGreaterThan(0);
  });

  it('forgets full buckets when it holds too many keys', () => {
    const sut = new TokenBuckets(1, 1, 2);
    sut.take('a', 0);
    sut.take('b', 0);
    sut.take('c', 5_000); // a and b have refilled: dropped
    expect(sut.size).toBe(1);
    expect(sut.take('a', 5_000)).toBe(0);
  });
});
