import { firPacket, parseKeyFrameRequests, pliPacket } from './rtcp-feedback';
import { ClipCursor, VideoClip } from './video-clip';
import { VideoReceiverStats } from './video-receiver-stats';
import { parseVp8Frame } from './vp8-frame';
import { AssembledVp8Frame, packetizeVp8, parseVp8Descriptor, Vp8Depacketizer } from './vp8-rtp';
import type { RtpPacket } from '../rtp-packet';

const clip = VideoClip.load();

/** RTP packets of clip frames as a sender makes them (90 kHz, 15 fps). */
function packetsOf(indices: number[], mtu = 1200, firstSeq = 65_530): RtpPacket[] {
  let seq = firstSeq;
  return indices.flatMap((index, n) => {
    const payloads = packetizeVp8(clip.frames[index], (32_760 + n) & 0x7fff, mtu);
    return payloads.map((payload, i) => ({
      payloadType: 101,
      sequenceNumber: seq++ & 0xffff,
      timestamp: (0xffff_f000 + n * 6000) >>> 0,
      ssrc: 1234,
      marker: i === payloads.length - 1,
      payload,
    }));
  });
}

describe('the test clip', () => {
  it('is 3 s of 320x240 VP8 at 15 fps with a key frame every second, every frame distinct', () => {
    expect(clip.frames).toHaveLength(45);
    expect(clip.fps).toBe(15);
    expect(clip.keyFrameIndices).toEqual([0, 15, 30]);
    expect(clip.keyFrameSize()).toEqual({ width: 320, height: 240 });
    clip.frames.forEach((frame, i) => expect(clip.indexOf(frame)).toBe(i));
    expect(clip.indexOf(Buffer.concat([clip.frames[3], Buffer.from([0])]))).toBeUndefined();
  });

  it('parses key-frame dimensions and refuses a key frame without the start code', () => {
    expect(parseVp8Frame(clip.frames[15])).toEqual({ keyFrame: true, width: 320, height: 240 });
    expect(parseVp8Frame(clip.frames[1])).toEqual({ keyFrame: false });
    const broken = Buffer.from(clip.frames[0]);
    broken[4] = 0;
    expect(parseVp8Frame(broken)).toBeNull();
  });
});

describe('VP8 over RTP (RFC 7741)', () => {
  it('cuts a frame into packets of at most the MTU, S=1 partition 0 on the first only, PictureID on all', () => {
    const payloads = packetizeVp8(clip.frames[0], 300, 1200);
    expect(payloads.length).toBe(Math.ceil(clip.frames[0].length / 1196));
    payloads.forEach((payload, i) => {
      expect(payload.length).toBeLessThanOrEqual(1200);
      const d = parseVp8Descriptor(payload)!;
      expect(d).toMatchObject({ startOfPartition: i === 0, partitionIndex: 0, pictureId: 300, headerBytes: 4 });
    });
  });

  it('reads descriptors with a 7-bit PictureID, TL0PICIDX and KEYIDX', () => {
    expect(parseVp8Descriptor(Buffer.from([0x90, 0xe0, 0x05, 0x11, 0x22, 0xaa]))).toMatchObject({ pictureId: 5, headerBytes: 5 });
    expect(parseVp8Descriptor(Buffer.from([0x10, 0xaa]))).toMatchObject({ startOfPartition: true, headerBytes: 1 });
    expect(parseVp8Descriptor(Buffer.from([0x80]))).toBeNull();
  });

  it('round trip: every frame of the clip comes back byte for byte, across sequence and timestamp wrap', () => {
    const depacketizer = new Vp8Depacketizer();
    const frames = packetsOf(
      clip.frames.map((_, i) => i),
      500,
    )
      .map((p) => depacketizer.push(p))
      .filter((f): f is AssembledVp8Frame => f !== null);
    expect(frames.map((f) => clip.indexOf(f.data))).toEqual(clip.frames.map((_, i) => i));
    expect(frames[8].pictureId).toBe(0); // 32768 wraps at 15 bits
  });

  it('reassembles frames whose packets come out of order, and gives up a frame missing a packet', () => {
    const depacketizer = new Vp8Depacketizer(2);
    const packets = packetsOf([0, 15, 16, 17, 18, 19], 400);
    const firstOfFrame0 = packets.findIndex((p) => p.timestamp === packets[0].timestamp && p.marker);
    // Frame 0 arrives backwards; the next (a key frame of several packets) loses its first.
    const frame0 = packets.slice(0, firstOfFrame0 + 1).reverse();
    const rest = packets.slice(firstOfFrame0 + 1);
    const lost = rest.splice(0, 1);
    expect(lost[0].payload[0] & 0x10).toBe(0x10);
    const out = [...frame0, ...rest].map((p) => depacketizer.push(p)).filter((f): f is AssembledVp8Frame => f !== null);
    expect(out.map((f) => clip.indexOf(f.data))).toEqual([0, 16, 17, 18, 19]);
    expect(depacketizer.abandoned).toBe(1);
  });
});

it('keeps a bounded number of frames waiting when none ever completes', () => {
  const depacketizer = new Vp8Depacketizer(2);
  // Only the middle packet of each multi-packet frame: nothing can complete.
  const packets = packetsOf([0, 15, 30, 0, 15, 30, 0, 15, 30, 0, 15, 30], 400).filter((p) => !p.marker && (p.payload[0] & 0x10) === 0);
  for (const p of packets) expect(depacketizer.push(p)).toBeNull();
  expect(depacketizer.abandoned).toBe(12 - 8);
});

describe('key-frame requests (RTCP PSFB)', () => {
  it('parses PLI and FIR from a compound packet that also holds a receiver report', () => {
    const receiverReport = Buffer.alloc(8);
    receiverReport[0] = 0x80;
    receiverReport[1] = 201;
    receiverReport.writeUInt16BE(1, 2);
    const compound = Buffer.concat([receiverReport, pliPacket(7, 1234), firPacket(7, 99, 3)]);
    expect(parseKeyFrameRequests(compound)).toEqual([
      { type: 'pli', senderSsrc: 7, mediaSsrc: 1234 },
      { type: 'fir', senderSsrc: 7, mediaSsrc: 99 },
    ]);
  });

  it('ignores other feedback and stops at a truncated packet', () => {
    const remb = pliPacket(1, 2);
    remb[0] = 0x8f; // FMT 15: application layer feedback
    expect(parseKeyFrameRequests(remb)).toEqual([]);
    expect(parseKeyFrameRequests(pliPacket(1, 2).subarray(0, 10))).toEqual([]);
  });

  it('a sender asked for a key frame goes on from the next key frame of the clip', () => {
    const cursor = new ClipCursor(clip);
    expect([cursor.next(), cursor.next(), cursor.next()]).toEqual([0, 1, 2]);
    cursor.requestKeyFrame();
    expect([cursor.next(), cursor.next()]).toEqual([15, 16]);
    for (let i = 17; i < 45; i++) cursor.next();
    cursor.requestKeyFrame();
    expect(cursor.next()).toBe(0); // already at the loop's key frame
    expect(cursor.keyFramesRequested).toBe(2);
  });
});

describe('VideoReceiverStats', () => {
  function frame(index: number, pictureId: number, data = clip.frames[index]): AssembledVp8Frame {
    return { timestamp: pictureId * 6000, pictureId, data, firstSequence: pictureId };
  }

  it('shows intact frames in order, asks for a key frame after a gap and shows again from it', () => {
    let now = 0;
    let requests = 0;
    const stats = new VideoReceiverStats(clip, () => requests++, { now: () => now });
    for (let i = 0; i < 5; i++, now += 1000 / 15) stats.onFrame(frame(i, i));
    now += 1000; // frames 5..19 lost
    stats.onFrame(frame(20, 20));
    expect(requests).toBe(1);
    now += 1000 / 15;
    stats.onFrame(frame(15, 21)); // the sender answered with its next key frame
    now += 1000 / 15;
    stats.onFrame(frame(16, 22));
    const lastShownAt = now;
    now += 300;
    stats.onFrame(frame(17, 23, Buffer.from('not the clip')));
    const report = stats.report(25);
    expect(stats.shownIndices).toEqual([0, 1, 2, 3, 4, 15, 16]);
    expect(report).toMatchObject({
      framesSent: 25,
      framesReceived: 9,
      framesIntact: 8,
      framesDecodable: 7,
      keyFramesReceived: 2,
      width: 320,
      height: 240,
    });
    expect(report.keyFramesRequested).toBe(2);
    expect(report.fps).toBeCloseTo((7 * 1000) / (lastShownAt + 1000 / 15), 5);
    expect(report.freezeMs).toBeCloseTo(1000 + 2000 / 15 - 1000 / 15, 5);
  });
});
