import { PlainReceiveStream, PlainSendStream } from './plain-media-session';
import { RtpUdpSocket } from './rtp-udp-socket';
import { firPacket, pliPacket } from './video/rtcp-feedback';
import { VideoClip } from './video/video-clip';

/**
 * A send stream and a receive stream wired to each other over loopback UDP,
 * with no SFU between: the receive stream's "SFU end" is the sender's socket,
 * so its PLI reaches the sender as the SFU's would.
 */
async function loopbackVideo(options: ConstructorParameters<typeof PlainSendStream>[1] = {}) {
  const clip = VideoClip.load();
  const senderSocket = await RtpUdpSocket.open('127.0.0.1');
  const receiverSocket = await RtpUdpSocket.open('127.0.0.1');
  const ssrc = 0x1234;
  try {
    return wire(clip, senderSocket, receiverSocket, ssrc, options);
  } catch (err) {
    senderSocket.close();
    receiverSocket.close();
    throw err;
  }
}

function wire(
  clip: VideoClip,
  senderSocket: RtpUdpSocket,
  receiverSocket: RtpUdpSocket,
  ssrc: number,
  options: ConstructorParameters<typeof PlainSendStream>[1],
) {
  const sender = new PlainSendStream(
    {
      callId: 'c',
      kind: 'video',
      transportId: 't1',
      producerId: 'p',
      ssrc,
      payloadType: 101,
      socket: senderSocket,
      remote: receiverSocket.address,
      ownsSocket: true,
    },
    { clip, ...options },
  );
  const receiver = new PlainReceiveStream(
    {
      callId: 'c',
      transportId: 't2',
      consumerId: 'k',
      producerId: 'p',
      kind: 'video',
      payloadType: 101,
      ssrc,
      socket: receiverSocket,
      remote: senderSocket.address,
      ownsSocket: true,
    },
    { clip, startupKeyFrameMs: 60_000, ...options },
  );
  return { clip, sender, receiver, senderSocket, receiverSocket };
}

describe('a video stream over loopback UDP', () => {
  it('every frame of the clip arrives intact, in order', async () => {
    const { clip, sender, receiver } = await loopbackVideo();
    try {
      await sender.sendVideo(clip.frames.length * clip.frameMs);
      await receiver.waitForFrames(clip.frames.length, 3000);
      expect(receiver.video!.shownIndices).toEqual(clip.frames.map((_, i) => i));
      expect(receiver.videoReport(sender.framesSent)).toMatchObject({
        framesSent: 45,
        framesIntact: 45,
        framesDecodable: 45,
        keyFramesRequested: 0,
      });
    } finally {
      sender.close();
      receiver.close();
    }
  });

  it('PLI or FIR for its SSRC makes the sender go on from the next key frame; other SSRCs are ignored', async () => {
    const { clip, sender, receiver, receiverSocket, senderSocket } = await loopbackVideo();
    try {
      const requests: number[] = [];
      sender.onKeyFrameRequest(() => requests.push(sender.framesSent));
      const sending = sender.sendVideo(20 * clip.frameMs);
      await receiver.waitForFrames(3, 3000);
      await receiverSocket.send(pliPacket(9, 0x9999), '127.0.0.1', senderSocket.address.port); // not this stream
      receiver.requestKeyFrame(); // PLI
      await sending;
      await receiver.waitForFrames(8, 3000);
      const shown = receiver.video!.shownIndices;
      const jump = shown.indexOf(15);
      expect(jump).toBeGreaterThan(2);
      expect(jump).toBeLessThan(15); // frames skipped: sooner than the clip's own key frame
      expect(shown).toEqual([...shown.slice(0, jump).map((_, i) => i), ...shown.slice(jump).map((_, i) => 15 + i)]);
      expect(sender.keyFrameRequestsReceived).toBe(1);
      expect(requests).toHaveLength(1);

      await receiverSocket.send(firPacket(9, 0x1234, 1), '127.0.0.1', senderSocket.address.port);
      await new Promise((r) => setTimeout(r, 50));
      expect(sender.keyFrameRequestsReceived).toBe(2);
    } finally {
      sender.close();
      receiver.close();
    }
  });

  it('a receiver behind heavy loss asks for key frames and shows only decodable frames', async () => {
    const { clip, sender, receiver } = await loopbackVideo({ network: { up: { lossRate: 0.2 }, seed: 3, label: 'lossy' } });
    try {
      await sender.sendVideo(clip.frames.length * clip.frameMs);
      await new Promise((r) => setTimeout(r, 100));
      const report = receiver.videoReport(sender.framesSent);
      expect(report.framesReceived).toBeLessThan(45);
      expect(report.framesIntact).toBe(report.framesReceived);
      expect(report.keyFramesRequested).toBeGreaterThan(0);
      expect(sender.keyFrameRequestsReceived).toBeGreaterThan(0);
      expect(report.framesDecodable).toBeLessThan(report.framesReceived);
      // Whatever was shown ran in clip order from a key frame.
      const shown = receiver.video!.shownIndices;
      for (let i = 1; i < shown.length; i++) {
        if (shown[i] !== shown[i - 1] + 1) expect(clip.keyFrameIndices).toContain(shown[i]);
      }
    } finally {
      sender.close();
      receiver.close();
    }
  });

  it('refuses network conditions with a bad field, naming it', async () => {
    await expect(loopbackVideo({ network: { down: { lossRate: 3 }, seed: 1 } })).rejects.toThrow(
      'network.down.lossRate must be a number from 0 to 1',
    );
  });
});
