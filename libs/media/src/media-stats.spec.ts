import { routerCodecsFor } from './media-codecs';
import { CallLegs, JitterHistogram, summariseConsumerStats, summariseProducerStats } from './media-stats';

describe('media stats summaries', () => {
  const inbound = {
    type: 'inbound-rtp',
    mimeType: 'audio/opus',
    packetCount: 100,
    byteCount: 8000,
    packetsLost: 2,
    fractionLost: 5,
    jitter: 40,
    score: 9,
  };
  const outbound = {
    ...inbound,
    type: 'outbound-rtp',
    packetCount: 98,
    byteCount: 7800,
    packetsLost: 0,
    fractionLost: 0,
    jitter: 0,
    score: 10,
  };

  it('counts a producer from its inbound streams only, summing layers', () => {
    const layer2 = { ...inbound, packetCount: 50, byteCount: 4000, packetsLost: 1, fractionLost: 9, jitter: 10, score: 7 };
    expect(summariseProducerStats('p', 'audio', [inbound, layer2, outbound])).toEqual({
      id: 'p',
      kind: 'audio',
      mimeType: 'audio/opus',
      packets: 150,
      bytes: 12000,
      packetsLost: 3,
      fractionLost: 9,
      jitter: 40,
      score: 7,
    });
  });

  it('counts a consumer from its outbound stream, not the producer stream mediasoup repeats', () => {
    expect(summariseConsumerStats('c', 'p', 'audio', [outbound, inbound])).toMatchObject({
      id: 'c',
      producerId: 'p',
      packets: 98,
      bytes: 7800,
      packetsLost: 0,
    });
  });

  it('reports zeros, not NaN, when mediasoup had nothing to say', () => {
    expect(summariseConsumerStats('c', 'p', 'video', [])).toEqual({
      id: 'c',
      kind: 'video',
      producerId: 'p',
      mimeType: undefined,
      packets: 0,
      bytes: 0,
      packetsLost: 0,
      fractionLost: 0,
      jitter: 0,
      score: undefined,
    });
  });
});

describe('router codecs', () => {
  it('offers audio calls Opus only, with in-band FEC and DTX', () => {
    const codecs = routerCodecsFor('audio');
    expect(codecs.map((c) => c.mimeType)).toEqual(['audio/opus']);
    expect(codecs[0].parameters).toEqual({ useinbandfec: 1, usedtx: 1 });
  });

  it('offers video calls VP8 and constrained-baseline H264 besides Opus', () => {
    const codecs = routerCodecsFor('video');
    expect(codecs.map((c) => c.mimeType)).toEqual(['audio/opus', 'video/VP8', 'video/H264']);
    expect(codecs[2].parameters).toMatchObject({ 'packetization-mode': 1, 'profile-level-id': '42e01f' });
  });
});

describe('call legs', () => {
  it('folds closed streams into their leg and samples differences', () => {
    const legs = new CallLegs();
    const up = legs.leg('u', 'up', 'audio');
    up.update('p1', { bytes: 1000, packets: 10, packetsLost: 0 });
    expect(up.sample(1000, { jitter: 480 })).toMatchObject({ bitrateBps: 8000, packets: 10, jitterMs: 10, lossRatio: 0 });
    up.update('p1', { bytes: 1500, packets: 15, packetsLost: 1 });
    up.retire('p1');
    up.update('p2', { bytes: 500, packets: 5, packetsLost: 0 });
    expect(up.sample(1000, { jitter: 960 })).toMatchObject({ bitrateBps: 8000, packets: 10, packetsLost: 1 });
    expect(up.liveStreams).toBe(1);
    legs.addSampledTime(2000);
    const summary = legs.summary()!;
    expect(summary.sampledSeconds).toBe(2);
    expect(summary.legs).toEqual([
      expect.objectContaining({
        bytes: 2000,
        packets: 20,
        packetsLost: 1,
        lossRatio: 0.0476,
        jitterMsP50: 10,
        jitterMsP95: 20,
        bitrateBpsMean: 8000,
      }),
    ]);
  });

  it('keeps one leg per participant, direction and kind however many streams come and go', () => {
    const legs = new CallLegs();
    for (let i = 0; i < 1000; i++) {
      const leg = legs.leg('u', i % 2 ? 'up' : 'down', 'audio');
      leg.update(`s${i}`, { bytes: 10, packets: 1, packetsLost: 0 });
      leg.retire(`s${i}`);
    }
    expect(legs.size).toBe(2);
    expect(legs.all().every((l) => l.liveStreams === 0)).toBe(true);
    expect(legs.summary()!.legs.map((l) => l.packets)).toEqual([500, 500]);
  });

  it('has no statistics for a call that carried nothing', () => {
    const legs = new CallLegs();
    legs.leg('u', 'up', 'video').update('p', { bytes: 0, packets: 0, packetsLost: 0 });
    expect(legs.summary()).toBeNull();
  });

  it('takes jitter percentiles from a fixed histogram, never under the true value', () => {
    const h = new JitterHistogram();
    for (let i = 1; i <= 100; i++) h.add(i);
    expect(h.quantile(0.5)).toBe(50);
    expect(h.quantile(0.95)).toBe(100);
    h.add(5_000);
    expect(h.quantile(1)).toBe(1000);
  });
});
