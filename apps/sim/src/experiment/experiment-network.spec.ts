import { NETWORK_PROFILES } from '@app/client';
import { describeNetwork, expectedLossRatio, experimentNetwork, NetworkFlagError } from './experiment-network';

describe('experimentNetwork', () => {
  it('is a profile of the SDK, default good', () => {
    expect(experimentNetwork(undefined, {})).toEqual(NETWORK_PROFILES.good);
    for (const name of ['good', '3g', 'lossy', 'bursty', 'congested'])
      expect(experimentNetwork(name, {})).toEqual(NETWORK_PROFILES[name as 'good']);
  });

  it('lays the flags over the profile', () => {
    expect(
      experimentNetwork('good', { loss: 0.05, delayMs: 100, jitterMs: 20, bandwidthKbps: 500, burstLoss: 0.01, burstLength: 5 }),
    ).toEqual({
      lossRate: 0.05,
      delayMs: 100,
      jitterMs: 20,
      bandwidthKbps: 500,
      burst: { pGoodToBad: 0.01, pBadToGood: 0.2 },
    });
  });

  it('names the flag of an impossible value', () => {
    expect(() => experimentNetwork('good', { loss: 1.5 })).toThrow(
      new NetworkFlagError('loss', 'must be a probability from 0 to 1, got 1.5'),
    );
    expect(() => experimentNetwork('good', { bandwidthKbps: -3 })).toThrow(/^--bandwidth must be a bandwidth from 0 \(unlimited\)/);
    expect(() => experimentNetwork('good', { jitterMs: NaN })).toThrow(/^--jitter/);
    expect(() => experimentNetwork('good', { burstLength: 0 })).toThrow(/^--burst-length/);
    expect(() => experimentNetwork('moon', {})).toThrow(/^--network must be one of/);
  });

  it('expects the loss of random and burst loss together, and describes the conditions', () => {
    expect(expectedLossRatio(NETWORK_PROFILES.lossy)).toBeCloseTo(0.1);
    // Bad share 0.02 / (0.02 + 0.25).
    expect(expectedLossRatio(NETWORK_PROFILES.bursty)).toBeCloseTo(0.0741, 3);
    expect(expectedLossRatio(NETWORK_PROFILES.good)).toBe(0);
    expect(describeNetwork(NETWORK_PROFILES.congested)).toBe('loss 0.0%, delay 40 ms + 0..5 ms jitter, 96 kbit/s cap');
  });
});
