import crypto from 'node:crypto';
import { SocialClient } from '@app/client';
import { MediaService, RoomEvent, WorkerPool } from '@app/media';
import {
  connectedUser,
  endTestCall,
  openTestRoom,
  refusalCode,
  startTestGateway,
  TEST_ADMIN_TOKEN,
  TestGateway,
  near,
  sleep,
} from '@app/testing';
import {
  PlainReceiveStream,
  PlainSendStream,
  plainRtpParameters,
  randomSsrc,
  syntheticVp8Payload,
  vp8TimestampStep,
} from '../../libs/client/src/media';

/*
 * The media capability through the real socket protocol and real mediasoup,
 * with active calls stored directly and their rooms opened on MediaService
 * (as the calls service does on call:accept), so these tests do not depend
 * on call signalling.
 */

async function setVideoFlag(gw: TestGateway, body: Record<string, unknown>, users: SocialClient[], on: boolean) {
  const res = await fetch(`${gw.url}/admin/flags/video_call`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  // The change reaches evaluation through the flags' change feed: wait until it is seen.
  for (const u of users) {
    for (let i = 0; ; i++) {
      const { flags } = await u.route('GET /flags', '/flags');
      if (flags.video_call === on) break;
      if (i > 100) throw new Error('flag change not seen');
      await sleep(50);
    }
  }
}

describe('media rooms over the protocol (real mediasoup, real Opus)', () => {
  let gw: TestGateway;
  let media: MediaService;

  beforeAll(async () => {
    gw = await startTestGateway();
    media = gw.get(MediaService);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('carries a 440 Hz and a 660 Hz Opus tone both ways and returns per-stream stats at close', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const callId = await openTestRoom(gw, alice.id, bob.id, 'audio');

    const caps = await alice.request('media:capabilities', { callId });
    const codecs = (caps.rtpCapabilities as { codecs: { mimeType: string; parameters?: Record<string, unknown> }[] }).codecs;
    expect(codecs.map((c) => c.mimeType)).toEqual(['audio/opus']);
    expect(codecs[0].parameters).toMatchObject({ useinbandfec: 1, usedtx: 1 });

    const bobHearsOfAlice = bob.waitFor('media:producer-added', (e) => e.callId === callId);
    const aliceSends = await PlainSendStream.open(alice, callId, 'audio');
    expect(await bobHearsOfAlice).toEqual({ callId, producerId: aliceSends.producerId, userId: alice.id, kind: 'audio' });
    const bobSends = await PlainSendStream.open(bob, callId, 'audio');
    // A late joiner also finds the other's producers in media:capabilities.
    expect((await alice.request('media:capabilities', { callId })) as unknown).toMatchObject({
      producers: [{ producerId: bobSends.producerId, userId: bob.id, kind: 'audio' }],
    });

    const aliceHears = await PlainReceiveStream.open(alice, callId, bobSends.producerId);
    const bobHears = await PlainReceiveStream.open(bob, callId, aliceSends.producerId);

    const [sentByAlice, sentByBob] = await Promise.all([aliceSends.sendTone(440, 2000), bobSends.sendTone(660, 2000)]);
    await Promise.all([bobHears.waitForPackets(sentByAlice, 5000), aliceHears.waitForPackets(sentByBob, 5000)]);
    const bobFound440 = bobHears.frameFrequencies().filter(near(440)).length;
    const aliceFound660 = aliceHears.frameFrequencies().filter(near(660)).length;
    expect(bobHears.decodeErrors + aliceHears.decodeErrors).toBe(0);
    expect(bobFound440).toBeGreaterThanOrEqual(0.9 * sentByAlice);
    expect(aliceFound660).toBeGreaterThanOrEqual(0.9 * sentByBob);
    // And nobody hears themselves or the wrong tone.
    expect(bobHears.frameFrequencies().filter(near(660))).toHaveLength(0);

    const stats = await media.closeRoom(callId);
    expect(stats).not.toBeNull();
    const leg = (userId: string, direction: 'up' | 'down') =>
      stats!.legs.find((l) => l.userId === userId && l.direction === direction && l.kind === 'audio');
    expect(stats!.legs).toHaveLength(4);
    expect(leg(alice.id, 'up')!.packets).toBeGreaterThanOrEqual(0.9 * sentByAlice);
    expect(leg(bob.id, 'down')!.packets).toBeGreaterThanOrEqual(0.9 * sentByAlice);
    expect(leg(bob.id, 'down')!.bytes).toBeGreaterThan(0);
    expect(leg(alice.id, 'down')!.packets).toBeGreaterThanOrEqual(0.9 * sentByBob);

    // The room is gone: its ids are unknown now, and closing again has nothing to report.
    expect(await refusalCode(alice.request('media:capabilities', { callId }))).toBe('NOT_FOUND');
    expect(await refusalCode(bob.request('media:resume', { consumerId: bobHears.consumerId }))).toBe('NOT_FOUND');
    expect(await media.closeRoom(callId)).toBeNull();
    for (const s of [aliceSends, bobSends, aliceHears, bobHears]) s.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('lets only the participants touch the room, and each only their own objects', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const eve = await connectedUser(gw, 'eve');
    const callId = await openTestRoom(gw, alice.id, bob.id, 'audio');
    const aliceSends = await PlainSendStream.open(alice, callId, 'audio');
    const bobRecv = await bob.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
    const bobHears = await PlainReceiveStream.open(bob, callId, aliceSends.producerId);

    // An outsider: refused on the call, and the participants' ids mean nothing to them.
    expect(await refusalCode(eve.request('media:capabilities', { callId }))).toBe('FORBIDDEN');
    expect(await refusalCode(eve.request('media:create-transport', { callId, direction: 'send', type: 'plain' }))).toBe('FORBIDDEN');
    expect(await refusalCode(eve.request('media:connect-transport', { transportId: bobRecv.transportId, ip: '127.0.0.1', port: 9 }))).toBe(
      'NOT_FOUND',
    );
    expect(
      await refusalCode(
        eve.request('media:produce', {
          transportId: aliceSends.transportId,
          kind: 'audio',
          rtpParameters: plainRtpParameters('audio', randomSsrc()),
        }),
      ),
    ).toBe('NOT_FOUND');
    expect(await refusalCode(eve.request('media:resume', { consumerId: bobHears.consumerId }))).toBe('NOT_FOUND');

    // A participant cannot use the other participant's transport or consumer.
    expect(
      await refusalCode(alice.request('media:connect-transport', { transportId: bobRecv.transportId, ip: '127.0.0.1', port: 9 })),
    ).toBe('NOT_FOUND');
    expect(await refusalCode(alice.request('media:resume', { consumerId: bobHears.consumerId }))).toBe('NOT_FOUND');
    // Nor consume their own producer, nor produce on a receiving transport.
    const aliceRecv = await alice.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
    expect(
      await refusalCode(
        alice.request('media:consume', {
          transportId: aliceRecv.transportId,
          producerId: aliceSends.producerId,
          rtpCapabilities: { codecs: [] },
        }),
      ),
    ).toBe('NOT_FOUND');
    expect(
      await refusalCode(
        bob.request('media:produce', {
          transportId: bobRecv.transportId,
          kind: 'audio',
          rtpParameters: plainRtpParameters('audio', randomSsrc()),
        }),
      ),
    ).toBe('INVALID_STATE');

    // Unknown call, bad payloads, incomplete connect, bad RTP parameters, second connect.
    expect(await refusalCode(alice.request('media:capabilities', { callId: crypto.randomUUID() }))).toBe('NOT_FOUND');
    const bad = await alice.rawRequest('media:create-transport', { callId: 'nope', direction: 'sideways' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    const incomplete = await alice.rawRequest('media:connect-transport', { transportId: aliceRecv.transportId });
    expect(incomplete).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED', details: { fields: [{ field: 'ip' }, { field: 'port' }] } },
    });
    const bobSend = await bob.request('media:create-transport', { callId, direction: 'send', type: 'plain' });
    expect(
      await refusalCode(bob.request('media:produce', { transportId: bobSend.transportId, kind: 'audio', rtpParameters: { codecs: 'x' } })),
    ).toBe('VALIDATION_FAILED');
    expect(
      await refusalCode(
        bob.request('media:consume', {
          transportId: bobRecv.transportId,
          producerId: aliceSends.producerId,
          rtpCapabilities: { codecs: [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0 }] },
        }),
      ),
    ).toBe('VALIDATION_FAILED');
    await bob.request('media:connect-transport', { transportId: bobRecv.transportId, ip: '127.0.0.1', port: 9 });
    expect(await refusalCode(bob.request('media:connect-transport', { transportId: bobRecv.transportId, ip: '127.0.0.1', port: 9 }))).toBe(
      'INVALID_STATE',
    );
    // A second audio producer for the same participant is refused.
    expect(
      await refusalCode(
        alice.request('media:produce', {
          transportId: aliceSends.transportId,
          kind: 'audio',
          rtpParameters: plainRtpParameters('audio', randomSsrc()),
        }),
      ),
    ).toBe('INVALID_STATE');

    // An audio call takes no video.
    expect(
      await refusalCode(
        bob.request('media:produce', {
          transportId: bobSend.transportId,
          kind: 'video',
          rtpParameters: plainRtpParameters('video', randomSsrc()),
        }),
      ),
    ).toBe('VIDEO_CALL_DISABLED');

    await media.closeRoom(callId);
    aliceSends.close();
    bobHears.close();
    for (const c of [alice, bob, eve]) c.disconnect();
  });

  it('runs a join sent while its room is still opening once the room is open', async () => {
    const callId = crypto.randomUUID();
    const [caller, callee] = [crypto.randomUUID(), crypto.randomUUID()];
    // Not awaited: the join is sent right behind the opening, as call:accept with join does.
    const opening = media.openRoom(callId, 'audio', [caller, callee]);
    const joined = await media.join(callId, callee, {
      clientAddress: '127.0.0.1',
      recv: { type: 'plain', rtcpMux: true, ip: '127.0.0.1', port: 40_000 },
    });
    await opening;
    expect(joined.recv).toMatchObject({ transportId: expect.any(String) });
    // A room nobody opens is still not found.
    await expect(media.join(crypto.randomUUID(), callee, {})).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await media.closeRoom(callId);
  });

  it('leaves no router, transport, producer or consumer behind after 20 calls', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const before = await media.census();
    for (let i = 0; i < 20; i++) {
      const callId = await openTestRoom(gw, alice.id, bob.id, i % 2 === 0 ? 'audio' : 'video');
      const send = await PlainSendStream.open(alice, callId, 'audio');
      const recv = await PlainReceiveStream.open(bob, callId, send.producerId);
      await alice.request('media:create-transport', { callId, direction: 'recv', type: 'webrtc' });
      expect(await media.census()).toMatchObject({
        rooms: before.rooms + 1,
        routers: before.routers + 1,
        transports: before.transports + 3,
        producers: before.producers + 1,
        consumers: before.consumers + 1,
      });
      await media.closeRoom(callId);
      await endTestCall(gw, callId);
      send.close();
      recv.close();
    }
    expect(await media.census()).toEqual({ rooms: 0, routers: 0, transports: 0, producers: 0, consumers: 0 });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^media_rooms_open 0$/m);
    expect(metrics).toMatch(/^media_consumers 0$/m);
    alice.disconnect();
    bob.disconnect();
  });

  it('exchanges video in a video call while the flag is on for both, and closes it when the flag goes off', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const callId = await openTestRoom(gw, alice.id, bob.id, 'video');
    const caps = await alice.request('media:capabilities', { callId });
    const mimeTypes = (caps.rtpCapabilities as { codecs: { mimeType: string }[] }).codecs.map((c) => c.mimeType);
    expect(mimeTypes).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8', 'video/H264']));

    // Flag off (its first-start default): video is refused even in a video call.
    const refused = await alice.request('media:create-transport', { callId, direction: 'send', type: 'plain' });
    expect(
      await refusalCode(
        alice.request('media:produce', {
          transportId: refused.transportId,
          kind: 'video',
          rtpParameters: plainRtpParameters('video', randomSsrc()),
        }),
      ),
    ).toBe('VIDEO_CALL_DISABLED');

    // On for Alice only: still refused, both must have it.
    await setVideoFlag(gw, { enabled: true, rolloutPercent: 0, allowUserIds: [alice.id] }, [alice], true);
    expect(
      await refusalCode(
        alice.request('media:produce', {
          transportId: refused.transportId,
          kind: 'video',
          rtpParameters: plainRtpParameters('video', randomSsrc()),
        }),
      ),
    ).toBe('VIDEO_CALL_DISABLED');

    await setVideoFlag(gw, { enabled: true, rolloutPercent: 0, allowUserIds: [alice.id, bob.id] }, [alice, bob], true);
    const aliceVideo = await PlainSendStream.open(alice, callId, 'video');
    const aliceAudio = await PlainSendStream.open(alice, callId, 'audio');
    const bobSeesVideo = await PlainReceiveStream.open(bob, callId, aliceVideo.producerId);
    const bobHearsAudio = await PlainReceiveStream.open(bob, callId, aliceAudio.producerId);
    expect(bobSeesVideo.kind).toBe('video');
    for (let i = 0; i < 30; i++) {
      await aliceVideo.sendPayload(syntheticVp8Payload(i % 10 === 0, i), vp8TimestampStep(30), true);
    }
    expect(await bobSeesVideo.waitForPackets(27, 5000)).toBeGreaterThanOrEqual(27);

    // Switched off: both are told the video producer closed; audio goes on.
    const aliceTold = alice.waitFor('media:producer-closed', (e) => e.producerId === aliceVideo.producerId, 15_000);
    const bobTold = bob.waitFor('media:producer-closed', (e) => e.producerId === aliceVideo.producerId, 15_000);
    await setVideoFlag(gw, { enabled: false }, [alice, bob], false);
    expect(await aliceTold).toEqual({ callId, producerId: aliceVideo.producerId, reason: 'flag_off' });
    expect(await bobTold).toEqual({ callId, producerId: aliceVideo.producerId, reason: 'flag_off' });

    const videoBefore = bobSeesVideo.packets.length;
    for (let i = 30; i < 40; i++) await aliceVideo.sendPayload(syntheticVp8Payload(true, i), vp8TimestampStep(30), true);
    const sent = await aliceAudio.sendTone(440, 400);
    expect(await bobHearsAudio.waitForPackets(sent, 5000)).toBeGreaterThanOrEqual(sent * 0.9);
    expect(bobSeesVideo.packets.length).toBe(videoBefore);
    expect((await media.census()).producers).toBe(1);

    // The closed video's figures are still part of the call's stats.
    const stats = await media.closeRoom(callId);
    const aliceUp = stats!.legs.filter((l) => l.userId === alice.id && l.direction === 'up');
    expect(aliceUp.map((l) => l.kind).sort()).toEqual(['audio', 'video']);
    expect(aliceUp.find((l) => l.kind === 'video')!.packets).toBeGreaterThanOrEqual(27);
    for (const s of [aliceVideo, aliceAudio, bobSeesVideo, bobHearsAudio]) s.close();
    alice.disconnect();
    bob.disconnect();
  });
});

describe('media worker failure', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('opens the rooms of a killed worker again on its replacement and tells both participants to negotiate again', async () => {
    const media = gw.get(MediaService);
    const pool = gw.get(WorkerPool);
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const events: RoomEvent[] = [];
    const moved = new Promise<void>((resolve) =>
      media.onRoomEvent((event) => {
        events.push(event);
        resolve();
      }),
    );
    const callId = await openTestRoom(gw, alice.id, bob.id, 'audio');
    const send = await PlainSendStream.open(alice, callId, 'audio');
    const pid = media.workerPidOf(callId)!;
    const aliceTold = alice.waitFor('media:restart', (e) => e.callId === callId, 10_000);
    const bobTold = bob.waitFor('media:restart', (e) => e.callId === callId, 10_000);
    process.kill(pid, 'SIGKILL');
    await moved;
    expect(events).toEqual([{ callId, type: 'restarted', reason: 'worker_died' }]);
    expect(await aliceTold).toEqual({ callId, reason: 'worker_died' });
    expect(await bobTold).toEqual({ callId, reason: 'worker_died' });
    // The room is back, empty, on the replacement worker: the old objects are gone.
    expect(media.hasRoom(callId)).toBe(true);
    expect(media.workerPidOf(callId)).not.toBe(pid);
    expect(pool.workers().map((w) => w.pid)).not.toContain(pid);
    expect(
      await refusalCode(
        alice.request('media:produce', {
          transportId: send.transportId,
          kind: 'audio',
          rtpParameters: plainRtpParameters('audio', randomSsrc()),
        }),
      ),
    ).toBe('NOT_FOUND');

    // Negotiating again from media:capabilities gives audio again.
    await alice.request('media:capabilities', { callId });
    const send2 = await PlainSendStream.open(alice, callId, 'audio');
    const recv2 = await PlainReceiveStream.open(bob, callId, send2.producerId);
    const sent = await send2.sendTone(440, 400);
    expect(await recv2.waitForPackets(sent, 5000)).toBeGreaterThanOrEqual(sent * 0.9);
    await media.closeRoom(callId);
    expect(await media.census()).toEqual({ rooms: 0, routers: 0, transports: 0, producers: 0, consumers: 0 });
    for (const s of [send, send2, recv2]) s.close();
    alice.disconnect();
    bob.disconnect();
  });
});
