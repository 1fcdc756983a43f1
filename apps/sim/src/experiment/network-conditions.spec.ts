import { estimateMos } from './e-model';
import { ImpairedLink, linkSeed } from './impaired-link';
import { expectedLossRatio, NETWORK_PROFILES, NetworkConditions, NetworkConditionsError, resolveNetworkConditions, validateNetworkConditions } from './network-conditions';

const base: NetworkConditions = { loss: 0, burstLoss: 0, burstLength: 1, delayMs: 0, jitterMs: 0, bandwidthKbps: 0 };

function run(c: NetworkConditions, seed: number, packets: number, bytes = 100, everyMs = 20) {
  const link = new ImpairedLink(c, seed);
  return Array.from({ length: packets }, (_, i) => link.decide(bytes, i * everyMs));
}

describe('network conditions', () => {
  it('every profile is valid', () => {
    for (const [name, c] of Object.entries(NETWORK_PROFILES)) expect(resolveNetworkConditions(name, {})).toEqual(c);
  });

  it('names the flag of an impossible value', () => {
    expect(() => validateNetworkConditions({ ...base, loss: 1.5 })).toThrow(new NetworkConditionsError('loss', 'must be a probability from 0 to 1, got 1.5'));
    expect(() => validateNetworkConditions({ ...base, bandwidthKbps: -3 })).toThrow(/^--bandwidth/);
    expect(() => validateNetworkConditions({ ...base, jitterMs: NaN })).toThrow(/^--jitter/);
  });

  it('expects the long-run loss of independent and burst loss together', () => {
    expect(expectedLossRatio({ ...base, loss: 0.05 })).toBeCloseTo(0.05);
    // Bad state share: 0.01 / (0.01 + 1/9) = 0.0826...
    expect(expectedLossRatio({ ...base, burstLoss: 0.01, burstLength: 9 })).toBeCloseTo(0.0826, 3);
  });
});

describe('ImpairedLink', () => {
  it('is seeded: the same seed loses the same packets, another seed others', () => {
    const c = { ...base, loss: 0.1, jitterMs: 10, delayMs: 30 };
    expect(run(c, 1, 500)).toEqual(run(c, 1, 500));
    expect(run(c, 2, 500)).not.toEqual(run(c, 1, 500));
    expect(linkSeed(1, 0, 0)).not.toBe(linkSeed(1, 0, 1));
    expect(linkSeed(1, 0, 0)).not.toBe(linkSeed(1, 1, 0));
  });

  it('loses about the share asked for, independently', () => {
    const verdicts = run({ ...base, loss: 0.05 }, 3, 20_000);
    const lost = verdicts.filter((v) => v.drop).length / verdicts.length;
    expect(lost).toBeGreaterThan(0.04);
    expect(lost).toBeLessThan(0.06);
  });

  it('loses in bursts of about the mean length in the Gilbert–Elliott bad state', () => {
    const verdicts = run({ ...base, burstLoss: 0.01, burstLength: 8 }, 4, 50_000);
    let runs = 0;
    let lost = 0;
    verdicts.forEach((v, i) => {
      if (v.drop) {
        lost++;
        if (i === 0 || !verdicts[i - 1].drop) runs++;
      }
    });
    expect(lost / runs).toBeGreaterThan(6);
    expect(lost / runs).toBeLessThan(10);
    expect(lost / verdicts.length).toBeCloseTo(expectedLossRatio({ ...base, burstLoss: 0.01, burstLength: 8 }), 1);
  });

  it('delays within delay ± jitter and never reorders', () => {
    const verdicts = run({ ...base, delayMs: 50, jitterMs: 20 }, 5, 2000, 100, 1);
    let last = -Infinity;
    verdicts.forEach((v, i) => {
      if (v.drop) throw new Error('nothing should drop');
      const delivery = i + v.delayMs;
      expect(delivery).toBeGreaterThanOrEqual(last);
      last = delivery;
      expect(v.delayMs).toBeGreaterThanOrEqual(30 - 1e-9);
    });
  });

  it('drops what exceeds the bandwidth (token bucket)', () => {
    // 1000-byte packets every 10 ms = 800 kbit/s through a 400 kbit/s cap: about half pass.
    const verdicts = run({ ...base, bandwidthKbps: 400 }, 6, 1000, 1000, 10);
    const passed = verdicts.filter((v) => !v.drop).length;
    expect(passed).toBeGreaterThan(450);
    expect(passed).toBeLessThan(560);
    expect(run({ ...base, bandwidthKbps: 400 }, 6, 1000, 100, 10).every((v) => !v.drop)).toBe(true);
  });
});

describe('estimateMos', () => {
  it('is high on a clean path and falls with loss, bursts and delay', () => {
    const clean = estimateMos({ lossRatio: 0, meanBurstPackets: 1, delayMs: 20, jitterMs: 2 });
    const lossy = estimateMos({ lossRatio: 0.1, meanBurstPackets: 1.1, delayMs: 80, jitterMs: 10 });
    const bursty = estimateMos({ lossRatio: 0.1, meanBurstPackets: 8, delayMs: 80, jitterMs: 10 });
    const late = estimateMos({ lossRatio: 0, meanBurstPackets: 1, delayMs: 400, jitterMs: 50 });
    expect(clean).toBeGreaterThan(4.2);
    expect(lossy).toBeLessThan(clean);
    expect(bursty).toBeLessThan(lossy);
    expect(late).toBeLessThan(clean);
    expect(estimateMos({ lossRatio: 1, meanBurstPackets: 100, delayMs: 1000, jitterMs: 500 })).toBeGreaterThanOrEqual(1);
  });
});
