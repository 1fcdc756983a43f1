import { OPUS_FRAME_SAMPLES, OpusFrameDecoder, OpusFrameEncoder } from './opus-codec';
import { isRtcp, parseRtp, serializeRtp } from './rtp-packet';
import { dominantFrequency, goertzelPower, ToneGenerator } from './tone';

describe('RTP packets', () => {
  it('round-trips a packet through serialize and parse', () => {
    const packet = { payloadType: 100, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, marker: true, payload: Buffer.from([1, 2, 3]) };
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
});
