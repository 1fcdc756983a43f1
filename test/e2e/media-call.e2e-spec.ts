import { befriend, PlainReceiveStream, PlainSendStream, SocialClient } from '@app/client';
import type { CallDto } from '@app/contracts';
import { MediaService } from '@app/media';
import { connectedUser, refusalCode, startTestGateway, TestGateway, near } from '@app/testing';

/*
 * Media through the whole protocol: contacts, call:invite, call:accept,
 * media:*, call:hangup, as any client would do it; real Opus over plain RTP.
 */

async function activeCall(caller: SocialClient, callee: SocialClient): Promise<CallDto> {
  const ringing = await caller.request('call:invite', { to: callee.id, media: 'audio' });
  const { call } = await callee.request('call:accept', { callId: ringing.call.id });
  expect(call.state).toBe('active');
  return call;
}

describe('media in a call placed through the protocol', () => {
  let gw: TestGateway;
  let media: MediaService;

  beforeAll(async () => {
    gw = await startTestGateway();
    media = gw.get(MediaService);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('two callers exchange 2-second Opus tones and each finds the other’s frequency; stats are kept', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    const eve = await connectedUser(gw, 'eve');
    await befriend(alice, bob);

    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    // No room before the call is answered.
    expect(await refusalCode(alice.request('media:capabilities', { callId: ringing.call.id }))).toBe('NOT_FOUND');
    const { call } = await bob.request('call:accept', { callId: ringing.call.id });
    const callId = call.id;

    expect(await refusalCode(eve.request('media:capabilities', { callId }))).toBe('FORBIDDEN');
    expect(await refusalCode(eve.request('media:create-transport', { callId, direction: 'recv', type: 'plain' }))).toBe('FORBIDDEN');

    const aliceHearsOfBob = alice.waitFor('media:producer-added', (e) => e.callId === callId && e.userId === bob.id);
    const bobHearsOfAlice = bob.waitFor('media:producer-added', (e) => e.callId === callId && e.userId === alice.id);
    const [aliceSends, bobSends] = await Promise.all([
      PlainSendStream.open(alice, callId, 'audio'),
      PlainSendStream.open(bob, callId, 'audio'),
    ]);
    const [aliceHears, bobHears] = await Promise.all([
      aliceHearsOfBob.then((e) => PlainReceiveStream.open(alice, callId, e.producerId)),
      bobHearsOfAlice.then((e) => PlainReceiveStream.open(bob, callId, e.producerId)),
    ]);

    const [sentByAlice, sentByBob] = await Promise.all([aliceSends.sendTone(440, 2000), bobSends.sendTone(660, 2000)]);
    await Promise.all([bobHears.waitForPackets(sentByAlice, 5000), aliceHears.waitForPackets(sentByBob, 5000)]);
    expect(bobHears.frameFrequencies().filter(near(440)).length).toBeGreaterThanOrEqual(0.9 * sentByAlice);
    expect(aliceHears.frameFrequencies().filter(near(660)).length).toBeGreaterThanOrEqual(0.9 * sentByBob);

    await alice.request('call:hangup', { callId });
    expect(await refusalCode(bob.request('media:capabilities', { callId }))).toBe('NOT_FOUND');
    expect(await media.census()).toMatchObject({ rooms: 0, routers: 0, transports: 0, producers: 0, consumers: 0 });

    // The figures mediasoup counted are kept with the call.
    const [stored] = (await alice.route('GET /calls', '/calls')).calls;
    expect(stored.id).toBe(callId);
    const leg = (userId: string, direction: 'up' | 'down') =>
      stored.mediaStats?.legs.find((l) => l.userId === userId && l.direction === direction && l.kind === 'audio');
    expect(leg(alice.id, 'up')?.packets).toBeGreaterThanOrEqual(0.9 * sentByAlice);
    expect(leg(bob.id, 'down')?.packets).toBeGreaterThanOrEqual(0.9 * sentByAlice);

    for (const s of [aliceSends, bobSends, aliceHears, bobHears]) s.close();
    for (const c of [alice, bob, eve]) c.disconnect();
  });

  it('leaves nothing open in mediasoup after 20 calls with media', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    await befriend(alice, bob);
    for (let i = 0; i < 20; i++) {
      const call = await activeCall(alice, bob);
      const send = await PlainSendStream.open(alice, call.id, 'audio');
      const recv = await PlainReceiveStream.open(bob, call.id, send.producerId);
      await bob.request('media:create-transport', { callId: call.id, direction: 'send', type: 'webrtc' });
      await (i % 2 === 0 ? alice : bob).request('call:hangup', { callId: call.id });
      send.close();
      recv.close();
    }
    expect(await media.census()).toEqual({ rooms: 0, routers: 0, transports: 0, producers: 0, consumers: 0 });
    alice.disconnect();
    bob.disconnect();
  });

  it('keeps the call when its worker is killed: both get media:restart and audio flows again', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    await befriend(alice, bob);
    const call = await activeCall(alice, bob);
    const send = await PlainSendStream.open(bob, call.id, 'audio');
    const recv = await PlainReceiveStream.open(alice, call.id, send.producerId);
    const restarted = Promise.all([alice, bob].map((u) => u.waitFor('media:restart', (e) => e.callId === call.id, 15_000)));
    const pid = media.workerPidOf(call.id)!;
    process.kill(pid, 'SIGKILL');
    expect((await restarted).map((e) => e.reason)).toEqual(['worker_died', 'worker_died']);
    expect(media.workerPidOf(call.id)).not.toBe(pid);
    send.close();
    recv.close();

    // Negotiated again from media:capabilities, the same call carries audio; it is still active.
    await alice.request('media:capabilities', { callId: call.id });
    const send2 = await PlainSendStream.open(bob, call.id, 'audio');
    const recv2 = await PlainReceiveStream.open(alice, call.id, send2.producerId);
    const sent = await send2.sendTone(660, 400);
    expect(await recv2.waitForPackets(sent, 5000)).toBeGreaterThanOrEqual(0.9 * sent);
    const { calls } = await alice.route('GET /calls', '/calls');
    expect(calls.find((c) => c.id === call.id)?.state).toBe('active');
    await bob.request('call:hangup', { callId: call.id });
    send2.close();
    recv2.close();
    alice.disconnect();
    bob.disconnect();
  });
});
