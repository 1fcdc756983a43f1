import { ClientError, PlainReceiveStream, PlainSendStream, SocialClient } from '@app/client';
import type { CallDto } from '@app/contracts';
import { TestGateway, startTestGateway, uniqueHandle, sleep, putVideoFlag } from '@app/testing';

async function friends(url: string): Promise<[SocialClient, SocialClient]> {
  const [a, b] = await Promise.all([SocialClient.login(url, uniqueHandle('alice')), SocialClient.login(url, uniqueHandle('bob'))]);
  await a.http('PUT', `/contacts/${b.id}`, {});
  await b.http('PUT', `/contacts/${a.id}`, {});
  await Promise.all([a.connect(), b.connect()]);
  return [a, b];
}

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  return err instanceof ClientError ? err.code : String(err);
}

async function metricValue(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

let pictureId = 0;

/** A VP8 key frame as one RTP payload: descriptor (extended, picture id, start of partition 0) + key-frame header. */
function vp8KeyFrame(): Buffer {
  pictureId = (pictureId + 1) & 0x7fff;
  const frame = Buffer.alloc(120);
  frame[0] = 0x90; // X=1, S=1, PartID=0
  frame[1] = 0x80; // I=1: a picture id follows
  frame.writeUInt16BE(0x8000 | pictureId, 2); // 15-bit picture id
  frame[4] = 0x00; // frame tag, P=0: key frame
  frame.set([0x9d, 0x01, 0x2a], 7); // key frame start code
  frame.writeUInt16LE(64, 10); // width
  frame.writeUInt16LE(48, 12); // height
  return frame;
}

async function sendVideo(stream: PlainSendStream, frames: number): Promise<void> {
  for (let i = 0; i < frames; i++) {
    await stream.sendPayload(vp8KeyFrame(), 3000, true);
    await sleep(10);
  }
}

async function sendAudio(stream: PlainSendStream, packets: number): Promise<void> {
  for (let i = 0; i < packets; i++) {
    // Opus TOC byte of a 20 ms SILK frame followed by bytes; the SFU forwards without decoding.
    await stream.sendPayload(Buffer.from([0x08, 0xde, 0xad, 0xbe, 0xef]), 960, i === 0);
    await sleep(5);
  }
}

describe('video_call flag and calls', () => {
  let gw: TestGateway;
  const cleanup: (() => void)[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_RECONNECT_GRACE_MS: '60000' } });
  });
  afterEach(async () => {
    // Every test decides the flag for itself.
    await putVideoFlag(gw.url, { enabled: false, rolloutPercent: 0, allowUserIds: [], denyUserIds: [] });
  });
  afterAll(async () => {
    for (const c of cleanup) c();
    await gw?.close();
  });

  it('refuses a video call while the flag is off for either user, and counts it', async () => {
    const [alice, bob] = await friends(gw.url);
    cleanup.push(
      () => alice.disconnect(),
      () => bob.disconnect(),
    );
    const refusedBefore = await metricValue(gw.url, 'video_calls_total', 'outcome="refused"');
    const attemptedBefore = await metricValue(gw.url, 'video_calls_total', 'outcome="attempted"');

    expect(await refusal(alice.request('call:invite', { to: bob.id, media: 'video' }))).toBe('VIDEO_CALL_DISABLED');
    await putVideoFlag(gw.url, { enabled: true, allowUserIds: [alice.id] });
    expect(await refusal(alice.request('call:invite', { to: bob.id, media: 'video' }))).toBe('VIDEO_CALL_DISABLED');
    expect(await refusal(bob.request('call:invite', { to: alice.id, media: 'video' }))).toBe('VIDEO_CALL_DISABLED');

    expect(await metricValue(gw.url, 'video_calls_total', 'outcome="refused"')).toBe(refusedBefore + 3);
    expect(await metricValue(gw.url, 'video_calls_total', 'outcome="attempted"')).toBe(attemptedBefore + 3);
    // An audio call is not affected by the flag.
    const { call } = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    expect(call.media).toBe('audio');
    await alice.request('call:cancel', { callId: call.id });
  });

  it('kill switch mid-call: video producers close with flag_off, audio keeps flowing, new video is refused', async () => {
    const [alice, bob] = await friends(gw.url);
    cleanup.push(
      () => alice.disconnect(),
      () => bob.disconnect(),
    );
    await putVideoFlag(gw.url, { enabled: true, allowUserIds: [alice.id, bob.id] });

    const incoming = bob.waitFor('call:incoming');
    const { call } = await alice.request('call:invite', { to: bob.id, media: 'video' });
    expect(call.media).toBe('video');
    await incoming;
    const active = alice.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'active');
    await bob.request('call:accept', { callId: call.id });
    await active;

    const producersSeen: { producerId: string; kind: string }[] = [];
    bob.on('media:producer-added', (p) => producersSeen.push(p));
    const audioOut = await PlainSendStream.open(alice, call.id, 'audio');
    const videoOut = await PlainSendStream.open(alice, call.id, 'video');
    cleanup.push(
      () => audioOut.close(),
      () => videoOut.close(),
    );
    const audioIn = await PlainReceiveStream.open(bob, call.id, audioOut.producerId);
    const videoIn = await PlainReceiveStream.open(bob, call.id, videoOut.producerId);
    cleanup.push(
      () => audioIn.close(),
      () => videoIn.close(),
    );

    await Promise.all([sendAudio(audioOut, 20), sendVideo(videoOut, 20)]);
    expect(await audioIn.waitForPackets(10, 5_000)).toBeGreaterThanOrEqual(10);
    expect(await videoIn.waitForPackets(5, 5_000)).toBeGreaterThanOrEqual(5);
    expect(producersSeen.map((p) => p.kind).sort()).toEqual(['audio', 'video']);

    const closedForAlice = alice.waitFor('media:producer-closed', (p) => p.producerId === videoOut.producerId);
    const closedForBob = bob.waitFor('media:producer-closed', (p) => p.producerId === videoOut.producerId);
    const flagsForBob = bob.waitFor('flags:changed', (p) => p.flags.video_call === false);
    await putVideoFlag(gw.url, { enabled: false });
    const [a, b] = await Promise.all([closedForAlice, closedForBob, flagsForBob]);
    expect(a).toMatchObject({ callId: call.id, producerId: videoOut.producerId, reason: 'flag_off' });
    expect(b).toMatchObject({ callId: call.id, reason: 'flag_off' });

    // Audio goes on; video sent after the switch goes nowhere.
    const audioBefore = audioIn.packets.length;
    const videoBefore = videoIn.packets.length;
    await Promise.all([sendAudio(audioOut, 20), sendVideo(videoOut, 10)]);
    expect(await audioIn.waitForPackets(audioBefore + 10, 5_000)).toBeGreaterThanOrEqual(audioBefore + 10);
    // Audio sent after the last video frame went through the same worker: once it is
    // here, any video the SFU still forwarded would be here too.
    await sendAudio(audioOut, 5);
    expect(await audioIn.waitForPackets(audioBefore + 25, 5_000)).toBeGreaterThanOrEqual(audioBefore + 25);
    expect(videoIn.packets.length).toBe(videoBefore);

    // A new video producer is refused; the call itself is still active.
    expect(await refusal(PlainSendStream.open(bob, call.id, 'video'))).toBe('VIDEO_CALL_DISABLED');
    const completedBefore = await metricValue(gw.url, 'video_calls_total', 'outcome="completed"');
    const { call: ended } = await alice.request('call:hangup', { callId: call.id });
    expect(ended).toMatchObject<Partial<CallDto>>({ state: 'ended', endReason: 'hangup' });
    expect(await metricValue(gw.url, 'video_calls_total', 'outcome="completed"')).toBe(completedBefore + 1);
  });

  it('refuses a video producer when the flag went off between invite and produce', async () => {
    const [alice, bob] = await friends(gw.url);
    cleanup.push(
      () => alice.disconnect(),
      () => bob.disconnect(),
    );
    await putVideoFlag(gw.url, { enabled: true, rolloutPercent: 100 });
    const { call } = await alice.request('call:invite', { to: bob.id, media: 'video' });
    await bob.request('call:accept', { callId: call.id });
    // Deny one participant: video needs the flag on for both at that moment.
    await putVideoFlag(gw.url, { denyUserIds: [bob.id] });
    expect(await refusal(PlainSendStream.open(alice, call.id, 'video'))).toBe('VIDEO_CALL_DISABLED');
    const audio = await PlainSendStream.open(alice, call.id, 'audio');
    audio.close();
    await alice.request('call:hangup', { callId: call.id });
  });
});
