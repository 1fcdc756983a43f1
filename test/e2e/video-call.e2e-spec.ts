import { CallMediaOptions, EncodedTone, PlainCallMedia, PlainReceiveStream, SocialClient, VideoClip } from '@app/client';
import { TestGateway, startTestGateway, uniqueHandle, sleep, putVideoFlag } from '@app/testing';

const clip = VideoClip.load();
const ALL_FRAMES = clip.frames.map((_, i) => i);

/** Two mutual contacts, connected, with video calls allowed for both. */
async function videoFriends(url: string): Promise<[SocialClient, SocialClient]> {
  const [a, b] = await Promise.all([SocialClient.login(url, uniqueHandle('vida')), SocialClient.login(url, uniqueHandle('vidb'))]);
  await a.http('PUT', `/contacts/${b.id}`, {});
  await b.http('PUT', `/contacts/${a.id}`, {});
  await Promise.all([a.connect(), b.connect()]);
  return [a, b];
}

describe('video calls with the real clip (plain RTP through the SFU)', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const media: PlainCallMedia[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_QUALITY_INTERVAL_MS: '0' } });
  });
  afterEach(() => {
    for (const m of media.splice(0)) m.close();
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await putVideoFlag(gw.url, { enabled: false, allowUserIds: [] });
    await gw.close();
  });

  /** A video call set up with call:accept { join } and the caller's media:join. */
  async function videoCall(callerOptions: CallMediaOptions = {}, calleeOptions: CallMediaOptions = {}) {
    const [caller, callee] = await videoFriends(gw.url);
    clients.push(caller, callee);
    await putVideoFlag(gw.url, { enabled: true, rolloutPercent: 0, allowUserIds: [caller.id, callee.id] });
    const call = await caller.calls.invite(callee.id, 'video');
    await callee.calls.waitForCall(call.id);
    const calleeMedia = await PlainCallMedia.accept(callee, call.id, { video: true, ...calleeOptions });
    media.push(calleeMedia);
    await caller.calls.waitForState(call.id, 'active');
    const callerMedia = await PlainCallMedia.start(caller, call.id, { video: true, ...callerOptions });
    media.push(callerMedia);
    await Promise.all([callerMedia.ready(), calleeMedia.ready()]);
    return { call, caller, callee, callerMedia, calleeMedia };
  }

  it('delivers every frame of the clip intact both ways, and the tone', async () => {
    // Encoded before the clip starts, so no codec work stalls the first frames; and no receiver asks for a
    // key frame because a busy machine was slow to start sending (that would rightly skip frames).
    EncodedTone.of(440);
    EncodedTone.of(660);
    const patient = { startupKeyFrameMs: 10_000 };
    const { callerMedia, calleeMedia } = await videoCall(patient, patient);
    const clipMs = clip.frames.length * clip.frameMs;
    await Promise.all([
      callerMedia.videoSend!.sendVideo(clipMs),
      calleeMedia.videoSend!.sendVideo(clipMs),
      callerMedia.send!.sendTone(440, 1000),
      calleeMedia.send!.sendTone(660, 1000),
    ]);
    for (const [receiver, sender] of [
      [calleeMedia, callerMedia],
      [callerMedia, calleeMedia],
    ]) {
      const video = receiver.videoReceive!;
      await video.waitForFrames(clip.frames.length, 5000);
      const report = video.videoReport(sender.videoSend!.framesSent);
      expect(video.video!.shownIndices).toEqual(ALL_FRAMES);
      expect(report).toMatchObject({ framesSent: 45, framesReceived: 45, framesIntact: 45, framesDecodable: 45, keyFramesRequested: 0 });
      expect(report).toMatchObject({ width: 320, height: 240, keyFramesReceived: 3 });
      await receiver.receive!.waitForPackets(50, 3000);
    }
    expect(calleeMedia.receive!.checkTone(440, 50).passed).toBe(true);
    expect(callerMedia.receive!.checkTone(660, 50).passed).toBe(true);
  });

  it('a receiver that joins a running video late asks with PLI and gets a key frame first', async () => {
    const { call, callee, callerMedia } = await videoCall();
    const sender = callerMedia.videoSend!;
    const sending = sender.sendVideo(4000);
    while (sender.framesSent < 20) await sleep(20);
    const late = await PlainReceiveStream.open(callee, call.id, sender.producerId, { startupKeyFrameMs: 100 });
    try {
      late.requestKeyFrame();
      expect(await late.waitForFrames(10, 5000)).toBeGreaterThanOrEqual(10);
      await sending;
      const report = late.videoReport(sender.framesSent);
      expect(clip.keyFrameIndices).toContain(late.video!.shownIndices[0]);
      expect(report.framesReceived).toBe(report.framesIntact);
      expect(report).toMatchObject({ width: 320, height: 240 });
      expect(sender.keyFrameRequestsReceived).toBeGreaterThanOrEqual(1);
    } finally {
      late.close();
    }
  });

  it('congested hurts video and not voice', async () => {
    const { callerMedia, calleeMedia } = await videoCall({
      network: { up: { bandwidthKbps: 96, queueBytes: 6000 }, seed: 7, label: 'caller' },
    });
    await Promise.all([
      callerMedia.videoSend!.sendVideo(3000),
      callerMedia.send!.sendTone(440, 3000, 0.3, { bitrate: 24_000, fecLossPercent: 10 }),
    ]);
    await calleeMedia.receive!.waitForPackets(150, 3000);
    await calleeMedia.videoReceive!.waitForFrames(45, 1000);
    const voice = await calleeMedia.receive!.audioReport(440);
    const video = calleeMedia.videoReceive!.videoReport(callerMedia.videoSend!.framesSent);
    expect(voice.lossBeforeFec).toBeLessThan(0.01);
    expect(voice.mos).toBeGreaterThan(4);
    expect(video.framesDecodable).toBeLessThan(0.8 * video.framesSent);
    expect(callerMedia.videoSend!.upstream!.stats.overflowed).toBeGreaterThan(0);
    expect(callerMedia.send!.upstream!.stats.overflowed).toBe(0);
  });

  it('at 10% random loss the same received audio decodes better with FEC than without (one run, one seed)', async () => {
    const { callerMedia, calleeMedia } = await videoCall({}, { network: { down: { lossRate: 0.1 }, seed: 11, label: 'callee' } });
    await callerMedia.send!.sendTone(440, 5000, 0.3, { bitrate: 24_000, fecLossPercent: 10 });
    await calleeMedia.receive!.waitForPackets(230, 3000);
    const withFec = await calleeMedia.receive!.audioReport(440, { useFec: true });
    const withoutFec = await calleeMedia.receive!.audioReport(440, { useFec: false });
    expect(withFec.fecAvailable).toBe(true);
    expect(withFec.lossBeforeFec).toBeGreaterThan(0.05);
    expect(withFec.lossBeforeFec).toBeLessThan(0.15);
    expect(withFec.lossAfterFec).toBeLessThan(withFec.lossBeforeFec / 2);
    expect(withoutFec.lossAfterFec).toBe(withoutFec.lossBeforeFec);
    expect(withFec.snrDb).toBeGreaterThan(withoutFec.snrDb);
    expect(withFec.mos).toBeGreaterThan(withoutFec.mos);
  });
});
