import { routerCodecsFor } from './media-codecs';
import { summariseConsumerStats, summariseProducerStats } from './media-stats';

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
  const outbound = { ...inbound, type: 'outbound-rtp', packetCount: 98, byteCount: 7800, packetsLost: 0, fractionLost: 0, jitter: 0, score: 10 };

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
