import dgram from 'node:dgram';
import { checkTone, EncodedTone, TONE_LOOP_FRAMES } from './encoded-tone';
import { FramePacer } from './frame-pacer';
import { decodeOpusStream, OPUS_FRAME_SAMPLES, OpusFrameDecoder, OpusFrameEncoder, pcmSamples } from './opus-codec';
import { rtpAddressFor } from './rtp-address';
import { isRtcp, parseRtp, serializeRtp } from './rtp-packet';
import { dominantFrequency, goertzelPower, toneEnergyShare, ToneGenerator } from './tone';

describe('RTP packets', () => {
  it('round-trips a packet through serialize and parse', () => {
    const packet = {
      payloadType: 100,
      sequenceNumber: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      marker: true,
      payload: Buffer.from([1, 2, 3]),
    };
    expect(parseRtp(serializeRtp(packet))).toEqual(packet);
  });

  it('skips CSRCs, a header extension and padding when parsing', () => {
    const header = Buffer.from([0xb1, 0x65, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5]); // V=2, P, X, CC=1, PT=101
    const csrc = Buffer.alloc(4, 1);
    const extension = Buffer.from([0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
    const payload = Buffer.from([0xaa, 0xbb]);
    const padding = Buffer.from([0, 0, 3]);
    const parsed = parseRtp(Buffer.concat([header, csrc, extension, payload, padding]));
    expect(parsed).toMatchObject({ payloadType: 101, sequenceNumber: 7, timestamp: 9, ssrc: 5, marker: false });
    expect(parsed?.payload).toEqual(payload);
  });

  it('refuses RTCP, other versions and truncated datagrams', () => {
    const rtcpReceiverReport = Buffer.from([0x81, 201, 0, 1, 0, 0, 0, 1]);
    expect(isRtcp(rtcpReceiverReport)).toBe(true);
    expect(parseRtp(rtcpReceiverReport)).toBeNull();
    expect(parseRtp(Buffer.alloc(12))).toBeNull();
    expect(parseRtp(Buffer.from([0x80, 100, 0]))).toBeNull();
    expect(parseRtp(Buffer.from([0x90, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9]))).toBeNull();
  });
});

describe('tones through real Opus', () => {
  it('finds the frequency of a tone after Opus encoding and decoding', () => {
    for (const hz of [440, 660, 1000]) {
      const tone = new ToneGenerator(hz);
      const encoder = new OpusFrameEncoder();
      const decoder = new OpusFrameDecoder();
      const found: (number | null)[] = [];
      for (let i = 0; i < 20; i++) found.push(dominantFrequency(decoder.decode(encoder.encode(tone.nextFrame()))));
      encoder.close();
      decoder.close();
      // The codec needs a frame or two to settle; after that every frame shows the tone.
      for (const f of found.slice(3)) expect(Math.abs((f ?? 0) - hz)).toBeLessThanOrEqual(10);
    }
  });

  it('calls silence silence and tells two tones apart with Goertzel', () => {
    expect(dominantFrequency(new Int16Array(OPUS_FRAME_SAMPLES))).toBeNull();
    const frame = new ToneGenerator(440).nextFrame();
    expect(goertzelPower(frame, 440)).toBeGreaterThan(100 * goertzelPower(frame, 660));
  });

  it('refuses a frame of the wrong size', () => {
    const encoder = new OpusFrameEncoder();
    expect(() => encoder.encode(new Int16Array(100))).toThrow(RangeError);
    encoder.close();
  });

  it('reads little-endian PCM samples from any byte offset into an array of their own', () => {
    const bytes = Buffer.alloc(11);
    [1, -2, 32767, -32768, 258].forEach((v, i) => bytes.writeInt16LE(v, 1 + i * 2));
    const samples = pcmSamples(bytes, 1, 5);
    expect([...samples]).toEqual([1, -2, 32767, -32768, 258]);
    bytes.fill(0);
    expect(samples[4]).toBe(258);
    expect([...pcmSamples(bytes, 3, 2)]).toEqual([0, 0]);
  });
});

describe('tones encoded once per process', () => {
  it('encodes each tone once and replays the same packets, looping', () => {
    const tone = EncodedTone.of(440);
    expect(EncodedTone.of(440)).toBe(tone);
    expect(tone.packets).toHaveLength(TONE_LOOP_FRAMES);
    expect(tone.packet(TONE_LOOP_FRAMES + 7)).toBe(tone.packet(7));
    expect(tone.contains(Buffer.from(tone.packet(3)))).toBe(true);
    expect(EncodedTone.of(660).contains(tone.packet(3))).toBe(false);
  });

  it('decodes the replayed packets back to the tone, and not to the other one', () => {
    const frames = decodeOpusStream(EncodedTone.of(660).packets.slice(0, 20)).slice(3);
    for (const pcm of frames) {
      expect(toneEnergyShare(pcm!, 660)).toBeGreaterThan(0.8);
      expect(toneEnergyShare(pcm!, 440)).toBeLessThan(0.05);
    }
  });

  it('passes a complete leg and fails one that lost packets, carried the other tone or garbage', () => {
    const a = EncodedTone.of(440);
    const leg = Array.from({ length: 100 }, (_, n) => a.packet(n));
    expect(checkTone(leg, a, 100)).toMatchObject({ passed: true, exact: 100, decoded: 10, decodedMatching: 10 });
    expect(checkTone(leg.slice(0, 80), a, 100).passed).toBe(false);
    expect(checkTone(leg, EncodedTone.of(660), 100).passed).toBe(false);
    expect(
      checkTone(
        leg.map((p) => Buffer.from(p).fill(7, 1)),
        a,
        100,
      ).passed,
    ).toBe(false);
    expect(checkTone([], a, 0).passed).toBe(false);
  });

  it('keeps many encoders and decoders of the same process working (the shared heap)', () => {
    // Hundreds of streams used to each allocate their own codec; now they share two.
    const legs = Array.from({ length: 400 }, (_, i) => EncodedTone.of(i % 2 ? 440 : 660));
    for (const tone of legs) expect(checkTone(tone.packets.slice(0, 40), tone, 40).passed).toBe(true);
  });
});

describe('FramePacer', () => {
  it('sends every frame of every stream, in order, and finishes each on time', async () => {
    const pacer = new FramePacer(2);
    const started = performance.now();
    const runs = Array.from({ length: 50 }, () => {
      const sent: number[] = [];
      const done = new Promise<number>((resolve) =>
        pacer.start({ frames: 10, frameMs: 5, sendFrame: (n) => sent.push(n), finished: () => resolve(performance.now() - started) }),
      );
      return { sent, done };
    });
    const took = await Promise.all(runs.map((r) => r.done));
    for (const r of runs) expect(r.sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.min(...took)).toBeGreaterThanOrEqual(44);
    expect(pacer.activeStreams).toBe(0);
  });
});

describe('RTP addresses', () => {
  it('binds and announces a given address', async () => {
    await expect(rtpAddressFor('http://127.0.0.2:3000', '127.0.0.3')).resolves.toEqual({ bindIp: '127.0.0.3', announcedIp: '127.0.0.3' });
    await expect(rtpAddressFor('http://127.0.0.2:3000', 'nope')).rejects.toThrow(RangeError);
  });

  it('otherwise binds every interface and announces the address the gateway is reached from', async () => {
    const { bindIp, announcedIp } = await rtpAddressFor('http://127.0.0.2:3000');
    expect(bindIp).toBe('0.0.0.0');
    // The same source address a TCP connection to the gateway would use.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.connect(3000, '127.0.0.2', () => r()));
    expect(announcedIp).toBe(probe.address().address);
    probe.close();
  });
});
