import { EncodedTone } from '../encoded-tone';
import { LinkImpairment, ManualClock } from '../network/link-impairment';
import { ToneGenerator } from '../tone';
import type { RtpPacket } from '../rtp-packet';
import { analyseAudioLeg, interarrivalJitterMs, packetsBySequence, ReceivedPacket } from './audio-leg-report';
import { delayImpairment, effectiveEquipmentImpairment, mosFromR, rFactor } from './e-model';
import { toneSnrDb } from './tone-snr';

const TONE_HZ = 440;

/** The tone's packets (250 = 5 s) sent every 20 ms through a lossy link; what arrives. */
function receivedThrough(tone: EncodedTone, lossRate: number, seed: number): ReceivedPacket[] {
  const clock = new ManualClock();
  const link = new LinkImpairment({ lossRate }, seed, clock);
  const received: ReceivedPacket[] = [];
  tone.packets.forEach((payload, i) => {
    const packet: RtpPacket = {
      payloadType: 100,
      sequenceNumber: (65_500 + i) & 0xffff,
      timestamp: i * 960,
      ssrc: 1,
      marker: false,
      payload,
    };
    link.submit(payload.length + 12, () => received.push({ packet, arrivalMs: clock.now() }));
    clock.advance(20);
  });
  return received;
}

describe('E-model (G.107)', () => {
  it('known points', () => {
    expect(mosFromR(93.2)).toBeCloseTo(4.41, 2);
    expect(mosFromR(50)).toBeCloseTo(2.58, 2);
    expect(mosFromR(0)).toBe(1);
    expect(mosFromR(120)).toBe(4.5);
    expect(delayImpairment(100)).toBeCloseTo(2.4, 10);
    expect(delayImpairment(300)).toBeCloseTo(7.2 + 0.11 * 122.7, 10);
    expect(effectiveEquipmentImpairment(0)).toBe(0);
    expect(effectiveEquipmentImpairment(10)).toBeCloseTo((95 * 10) / 35.1, 10);
    expect(rFactor({ mouthToEarMs: 0, lossPercent: 0 })).toBeCloseTo(93.2, 10);
    // Bursty loss hurts more than the same random loss.
    expect(rFactor({ mouthToEarMs: 50, lossPercent: 5, burstR: 3 })).toBeLessThan(rFactor({ mouthToEarMs: 50, lossPercent: 5 }));
  });
});

describe('tone SNR', () => {
  it('is high for a clean tone and falls with noise', () => {
    const tone = new ToneGenerator(TONE_HZ, 0.3).nextFrame(4800);
    expect(toneSnrDb(tone, TONE_HZ)).toBeGreaterThan(60);
    let seed = 1;
    const noisy = Array.from(tone, (s) => s + ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 2000);
    const snr = toneSnrDb(noisy, TONE_HZ);
    expect(snr).toBeGreaterThan(15);
    expect(snr).toBeLessThan(30);
  });
});

describe('received audio', () => {
  it('lays packets out by sequence across the wrap, with gaps and duplicates', () => {
    const p = (seq: number): ReceivedPacket => ({
      packet: { payloadType: 100, sequenceNumber: seq, timestamp: 0, ssrc: 1, marker: false, payload: Buffer.from([seq & 0xff]) },
      arrivalMs: 0,
    });
    const stream = packetsBySequence([p(65534), p(65535), p(1), p(0), p(1), p(3)]);
    expect(stream.map((b) => (b ? b[0] : null))).toEqual([254, 255, 0, 1, null, 3]);
  });

  it('measures RFC 3550 jitter: none for regular arrivals', () => {
    const regular = Array.from({ length: 50 }, (_, i) => ({
      packet: { payloadType: 100, sequenceNumber: i, timestamp: i * 960, ssrc: 1, marker: false, payload: Buffer.alloc(1) },
      arrivalMs: 1000 + i * 20 + (i % 2) * 10,
    }));
    expect(interarrivalJitterMs(regular.map((r) => ({ ...r, arrivalMs: 1000 + r.packet.sequenceNumber * 20 })))).toBe(0);
    expect(interarrivalJitterMs(regular)).toBeGreaterThan(5);
  });

  it('a lossless leg: nothing lost, a clean tone and a high MOS', async () => {
    const report = await analyseAudioLeg(
      receivedThrough(EncodedTone.of(TONE_HZ, 0.3, { bitrate: 24_000, fecLossPercent: 10 }), 0, 1),
      TONE_HZ,
    );
    expect(report).toMatchObject({ packetsExpected: 250, packetsReceived: 250, lossBeforeFec: 0, lossAfterFec: 0, jitterMs: 0 });
    expect(report.snrDb).toBeGreaterThan(30);
    expect(report.mos).toBeGreaterThan(4.3);
  });

  it('at 10% random loss, the same run with FEC beats it without (SNR, loss after FEC, MOS)', async () => {
    const tone = EncodedTone.of(TONE_HZ, 0.3, { bitrate: 24_000, fecLossPercent: 10 });
    const received = receivedThrough(tone, 0.1, 2024);
    const withFec = await analyseAudioLeg(received, TONE_HZ, { useFec: true });
    const withoutFec = await analyseAudioLeg(received, TONE_HZ, { useFec: false });
    expect(withFec.fecAvailable).toBe(true);
    expect(withFec.lossBeforeFec).toBeGreaterThan(0.05);
    expect(withFec.lossBeforeFec).toBe(withoutFec.lossBeforeFec);
    expect(withFec.lossAfterFec).toBeLessThan(withFec.lossBeforeFec / 2);
    expect(withoutFec.lossAfterFec).toBe(withoutFec.lossBeforeFec);
    expect(withFec.snrDb).toBeGreaterThan(withoutFec.snrDb);
    expect(withFec.mos).toBeGreaterThan(withoutFec.mos);
  });
});
