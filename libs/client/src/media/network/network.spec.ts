import { LinkImpairment, ManualClock } from './link-impairment';
import {
  gilbertElliottLossRate,
  NETWORK_PROFILE_NAMES,
  NETWORK_PROFILES,
  resolveNetworkConditions,
  validateNetworkConditions,
  type NetworkConditions,
} from './network-conditions';
import { deriveSeed } from './seeded-random';

/** Sends `count` packets of `bytes`, one every `everyMs`, and records when each arrives (undefined: dropped). */
function run(conditions: NetworkConditions, seed: number, count: number, bytes = 100, everyMs = 20): (number | undefined)[] {
  const clock = new ManualClock();
  const link = new LinkImpairment(conditions, seed, clock);
  const arrivals: (number | undefined)[] = new Array(count).fill(undefined);
  for (let i = 0; i < count; i++) {
    link.submit(bytes, () => (arrivals[i] = clock.now()));
    clock.advance(everyMs);
  }
  clock.advance(60_000);
  return arrivals;
}

const lossShare = (arrivals: (number | undefined)[]) => arrivals.filter((a) => a === undefined).length / arrivals.length;

describe('LinkImpairment', () => {
  it('same seed, same drops and delays; another seed, others', () => {
    const conditions = { lossRate: 0.1, delayMs: 30, jitterMs: 20, burst: { pGoodToBad: 0.05, pBadToGood: 0.3 } };
    const a = run(conditions, 42, 2000);
    expect(run(conditions, 42, 2000)).toEqual(a);
    expect(run(conditions, 43, 2000)).not.toEqual(a);
    for (const [i, at] of a.entries()) {
      if (at === undefined) continue;
      expect(at - i * 20).toBeGreaterThanOrEqual(30);
      expect(at - i * 20).toBeLessThanOrEqual(50);
    }
  });

  it('random loss drops about its rate', () => {
    expect(lossShare(run({ lossRate: 0.1 }, 7, 20_000))).toBeCloseTo(0.1, 1.5);
    expect(lossShare(run({}, 7, 1000))).toBe(0);
  });

  it('Gilbert–Elliott loss matches its stationary rate and comes in bursts of mean 1/pBadToGood', () => {
    const burst = { pGoodToBad: 0.02, pBadToGood: 0.25 };
    const arrivals = run({ burst }, 11, 50_000);
    expect(gilbertElliottLossRate(burst)).toBeCloseTo(0.02 / 0.27, 10);
    expect(Math.abs(lossShare(arrivals) - gilbertElliottLossRate(burst))).toBeLessThan(0.01);
    const bursts: number[] = [];
    let current = 0;
    for (const a of arrivals) {
      if (a === undefined) current++;
      else if (current > 0) {
        bursts.push(current);
        current = 0;
      }
    }
    const meanBurst = bursts.reduce((s, b) => s + b, 0) / bursts.length;
    expect(meanBurst).toBeGreaterThan(3.5);
    expect(meanBurst).toBeLessThan(4.5);
  });

  it('a token bucket passes what fits, queues the excess in order, and drops what overflows its queue', () => {
    // 80 kbit/s = 10 bytes per ms; 1000-byte datagrams (+28) every 50 ms = 20.5 bytes per ms: about half must go.
    const clock = new ManualClock();
    const link = new LinkImpairment({ bandwidthKbps: 80, queueBytes: 5000 }, 1, clock);
    const arrivals: number[] = [];
    for (let i = 0; i < 400; i++) {
      link.submit(1000, () => arrivals.push(i));
      clock.advance(50);
    }
    clock.advance(10_000);
    expect(link.stats.overflowed + link.stats.delivered).toBe(400);
    expect(arrivals).toEqual([...arrivals].sort((x, y) => x - y));
    const delivered = arrivals.length / 400;
    expect(delivered).toBeGreaterThan(0.45);
    expect(delivered).toBeLessThan(0.52);
    expect(link.stats.queuePeakBytes).toBeLessThanOrEqual(5000);
  });

  it('under its rate, a bucket only delays by the queue (nothing dropped)', () => {
    const arrivals = run({ bandwidthKbps: 96 }, 1, 500, 72, 20); // an Opus stream: ~40 kbit/s with headers
    expect(lossShare(arrivals)).toBe(0);
    arrivals.forEach((at, i) => expect(at).toBe(i * 20));
  });

  it('congested hurts a video-sized stream and not a voice-sized one', () => {
    const congested = NETWORK_PROFILES.congested;
    const voice = run({ bandwidthKbps: congested.bandwidthKbps, queueBytes: congested.queueBytes }, 3, 500, 90, 20);
    // The clip: about 150 kbit/s, as 1200-byte packets in bursts per frame.
    const video = run({ bandwidthKbps: congested.bandwidthKbps, queueBytes: congested.queueBytes }, 3, 1000, 1200, 64);
    expect(lossShare(voice)).toBe(0);
    expect(lossShare(video)).toBeGreaterThan(0.2);
  });

  it('derives distinct, stable seeds per leg', () => {
    expect(deriveSeed(1, 'alice/audio/up')).toBe(deriveSeed(1, 'alice/audio/up'));
    expect(deriveSeed(1, 'alice/audio/up')).not.toBe(deriveSeed(1, 'alice/audio/down'));
    expect(deriveSeed(1, 'x')).not.toBe(deriveSeed(2, 'x'));
  });
});

describe('network conditions validation', () => {
  it('every named profile is valid', () => {
    expect(NETWORK_PROFILE_NAMES).toEqual(['good', '3g', 'lossy', 'bursty', 'congested']);
    for (const name of NETWORK_PROFILE_NAMES) expect(validateNetworkConditions(NETWORK_PROFILES[name], name)).toBeNull();
  });

  it.each([
    [{ lossRate: 1.5 }, 'conditions.lossRate must be a number from 0 to 1'],
    [{ lossRate: '0.1' }, 'conditions.lossRate must be a number from 0 to 1'],
    [{ delayMs: -1 }, 'conditions.delayMs must be a number of milliseconds from 0 to 10000'],
    [{ jitterMs: Number.NaN }, 'conditions.jitterMs must be a number of milliseconds from 0 to 10000'],
    [{ bandwidthKbps: 0 }, 'conditions.bandwidthKbps must be a number above 0'],
    [{ queueBytes: 100 }, 'conditions.queueBytes must be a whole number of bytes, at least 1500'],
    [{ los: 0.1 }, 'conditions.los is not a known field'],
    [{ burst: { pGoodToBad: 0.1 } }, 'conditions.burst.pBadToGood is required'],
    [{ burst: { pGoodToBad: 0, pBadToGood: 0.5 } }, 'conditions.burst.pGoodToBad must be a number above 0 and at most 1'],
    [{ burst: { pGoodToBad: 0.1, pBadToGood: 0.5, lossInBad: 2 } }, 'conditions.burst.lossInBad must be a number from 0 to 1'],
    [[], 'conditions must be an object'],
  ])('%j: %s', (value, message) => {
    expect(validateNetworkConditions(value)).toContain(message);
  });

  it('resolves a profile by name or refuses it naming the field', () => {
    expect(resolveNetworkConditions('lossy')).toBe(NETWORK_PROFILES.lossy);
    expect(() => resolveNetworkConditions('wifi' as 'good', 'legs.alice')).toThrow('legs.alice "wifi" is not a profile');
    expect(() => resolveNetworkConditions({ lossRate: 2 }, 'legs.bob.up')).toThrow('legs.bob.up.lossRate must be');
  });
});
