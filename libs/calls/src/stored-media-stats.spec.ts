import { storedMediaStats } from './stored-media-stats';

const alice = '6f1c4d8e-1111-4a6b-9c1d-000000000001';
const bob = '6f1c4d8e-2222-4a6b-9c1d-000000000002';

describe(storedMediaStats.name, () => {
  it('passes the protocol shape through', () => {
    const stats = {
      sampledSeconds: 12,
      legs: [
        {
          userId: alice,
          direction: 'up' as const,
          kind: 'audio' as const,
          bytes: 1000,
          packets: 10,
          packetsLost: 0,
          lossRatio: 0,
          jitterMsP50: 1,
          jitterMsP95: 2,
          bitrateBpsMean: 666,
        },
      ],
    };
    expect(storedMediaStats(stats, 12)).toEqual(stats);
  });

  it('summarises the earlier per-participant counters into legs', () => {
    const earlier = {
      [alice]: {
        producers: [{ id: 'p', kind: 'audio', packets: 90, bytes: 9000, packetsLost: 10, fractionLost: 0, jitter: 480, score: 9 }],
        consumers: [],
      },
      [bob]: {
        producers: [],
        consumers: [
          { id: 'c', kind: 'audio', producerId: 'p', packets: 90, bytes: 9000, packetsLost: 0, fractionLost: 0, jitter: 0, score: 10 },
        ],
      },
    };
    expect(storedMediaStats(earlier, 10)).toEqual({
      sampledSeconds: 10,
      legs: [
        {
          userId: alice,
          direction: 'up',
          kind: 'audio',
          bytes: 9000,
          packets: 90,
          packetsLost: 10,
          lossRatio: 0.1,
          jitterMsP50: 10,
          jitterMsP95: 10,
          bitrateBpsMean: 7200,
          scoreMin: 9,
          scoreMean: 9,
        },
        {
          userId: bob,
          direction: 'down',
          kind: 'audio',
          bytes: 9000,
          packets: 90,
          packetsLost: 0,
          lossRatio: 0,
          jitterMsP50: 0,
          jitterMsP95: 0,
          bitrateBpsMean: 7200,
          scoreMin: 10,
          scoreMean: 10,
        },
      ],
    });
  });

  it('reads anything else as null instead of failing', () => {
    expect(storedMediaStats(null, 3)).toBeNull();
    expect(storedMediaStats('junk', 3)).toBeNull();
    expect(storedMediaStats({ [alice]: 'junk' }, 3)).toBeNull();
    expect(storedMediaStats({ sampledSeconds: -1, legs: [] }, 3)).toBeNull();
    expect(storedMediaStats({ 'not-a-uuid': { producers: [], consumers: [] } }, 3)).toEqual({ sampledSeconds: 3, legs: [] });
  });
});
