import { befriend, PLAIN_RTP_CAPABILITIES, plainRtpParameters, PlainReceiveStream, PlainSendStream, SocialClient } from '@app/client';
import { MediaService } from '@app/media';
import { connectedUser, refusalCode, startTestGateway, TestGateway } from '@app/testing';

/*
 * The SFU cannot be turned against anyone: its per-participant limits hold
 * for requests sent together, a producer is consumed once per receive
 * transport (a new one replaces the old consumer, so once per participant),
 * a plain recv transport sends only to its client's own address (or an
 * allowed block), plain RTP can be switched off, and every WebRTC transport
 * of a worker shares that worker's one WebRtcServer port.
 */

async function activeCall(caller: SocialClient, callee: SocialClient): Promise<string> {
  const ringing = await caller.request('call:invite', { to: callee.id });
  const { call } = await callee.request('call:accept', { callId: ringing.call.id });
  return call.id;
}

/** Settles every request and counts the outcomes by code ('ok' for a success). */
async function outcomes(requests: Promise<unknown>[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const r of await Promise.allSettled(requests)) {
    const key = r.status === 'fulfilled' ? 'ok' : ((r.reason as { code?: string }).code ?? String(r.reason));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('media limits and plain-RTP rules', () => {
  let gw: TestGateway;
  let media: MediaService;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { MEDIA_PLAIN_RTP_ALLOWED_CIDRS: '127.0.0.64/30' } });
    media = gw.get(MediaService);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('holds the transport limit for 30 requests sent at once', async () => {
    const [alice, bob] = [await connectedUser(gw, 'alice'), await connectedUser(gw, 'bob')];
    await befriend(alice, bob);
    const callId = await activeCall(alice, bob);
    const burst = Array.from({ length: 30 }, (_, i) =>
      alice.request('media:create-transport', { callId, direction: i % 2 ? 'send' : 'recv', type: i % 3 ? 'plain' : 'webrtc' }),
    );
    expect(await outcomes(burst)).toEqual({ ok: 4, INVALID_STATE: 26 });
    expect((await media.census()).transports).toBe(4);
    await alice.request('call:hangup', { callId });
    expect((await media.census()).transports).toBe(0);
    alice.disconnect();
    bob.disconnect();
  });

  it('holds one producer per kind and one consumer per producer, also for requests sent at once', async () => {
    const [alice, bob] = [await connectedUser(gw, 'alice'), await connectedUser(gw, 'bob')];
    await befriend(alice, bob);
    const callId = await activeCall(alice, bob);
    const aliceSend = await PlainSendStream.open(alice, callId, 'audio');
    const bobSend = await bob.request('media:create-transport', { callId, direction: 'send', type: 'plain' });
    const producing = Array.from({ length: 5 }, (_, i) =>
      bob.request('media:produce', {
        transportId: bobSend.transportId,
        kind: 'audio',
        rtpParameters: plainRtpParameters('audio', 1000 + i),
      }),
    );
    expect(await outcomes(producing)).toEqual({ ok: 1, INVALID_STATE: 4 });

    const recv = await bob.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
    await bob.request('media:connect-transport', { transportId: recv.transportId, ip: '127.0.0.1', port: 9 });
    const consuming = Array.from({ length: 8 }, () =>
      bob.request('media:consume', {
        transportId: recv.transportId,
        producerId: aliceSend.producerId,
        rtpCapabilities: PLAIN_RTP_CAPABILITIES,
      }),
    );
    expect(await outcomes(consuming)).toEqual({ ok: 1, INVALID_STATE: 7 });
    // Once more, later, is refused too.
    expect(
      await refusalCode(
        bob.request('media:consume', {
          transportId: recv.transportId,
          producerId: aliceSend.producerId,
          rtpCapabilities: PLAIN_RTP_CAPABILITIES,
        }),
      ),
    ).toBe('INVALID_STATE');
    expect(await media.census()).toMatchObject({ producers: 2, consumers: 1 });
    await alice.request('call:hangup', { callId });
    aliceSend.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('lets a participant that starts over consume and produce again, replacing its old consumer and producer', async () => {
    const [alice, bob] = [await connectedUser(gw, 'alice'), await connectedUser(gw, 'bob')];
    await befriend(alice, bob);
    const callId = await activeCall(alice, bob);
    const aliceSend = await PlainSendStream.open(alice, callId, 'audio');
    const consumeOn = async (transportId: string) =>
      bob.request('media:consume', { transportId, producerId: aliceSend.producerId, rtpCapabilities: PLAIN_RTP_CAPABILITIES });
    const newRecv = async () => {
      const { transportId } = await bob.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
      await bob.request('media:connect-transport', { transportId, ip: '127.0.0.1', port: 9 });
      return transportId;
    };
    const first = await newRecv();
    await consumeOn(first);

    // Bob starts over (as after a reconnect) more often than his transport limit allows:
    // each new receive transport may consume the producer once, the old consumer and its
    // emptied transport go, so he never holds two consumers of it nor piles up transports.
    for (let i = 0; i < 6; i++) {
      await bob.request('media:capabilities', { callId });
      const transportId = await newRecv();
      const burst = Array.from({ length: 4 }, () => consumeOn(transportId));
      expect(await outcomes(burst)).toEqual({ ok: 1, INVALID_STATE: 3 });
      expect(await refusalCode(consumeOn(transportId))).toBe('INVALID_STATE');
      expect(await media.census()).toMatchObject({ transports: 2, producers: 1, consumers: 1 });
    }
    // The replaced consumer's transport is gone with it.
    expect(await refusalCode(consumeOn(first))).toBe('NOT_FOUND');

    // Audio reaches him on a fresh leg.
    const leg = await PlainReceiveStream.open(bob, callId, aliceSend.producerId);
    const sent = await aliceSend.sendTone(440, 300);
    expect(await leg.waitForPackets(sent, 5000)).toBeGreaterThanOrEqual(0.9 * sent);
    expect(await media.census()).toMatchObject({ transports: 2, consumers: 1 });

    // Alice starts over: a new send transport produces audio again and replaces her old producer;
    // bob's consumer of it goes, with the plain transport it leaves empty. The same transport
    // still produces a kind once.
    const again = await alice.request('media:create-transport', { callId, direction: 'send', type: 'plain' });
    const produce = () =>
      alice.request('media:produce', { transportId: again.transportId, kind: 'audio', rtpParameters: plainRtpParameters('audio', 4242) });
    // Bob hears the old producer closed (before the new one is announced); alice, who replaced it, does not.
    const bobEvents: string[] = [];
    bob.on('media:producer-closed', (e) => bobEvents.push(`closed ${e.producerId} ${e.reason}`));
    bob.on('media:producer-added', (e) => bobEvents.push(`added ${e.producerId}`));
    const aliceClosed: unknown[] = [];
    alice.on('media:producer-closed', (e) => aliceClosed.push(e));
    const added = bob.waitFor('media:producer-added', (e) => e.callId === callId && e.userId === alice.id);
    let { producerId: latest } = await produce();
    await added;
    expect(bobEvents).toEqual([`closed ${aliceSend.producerId} replaced`, `added ${latest}`]);
    expect(await refusalCode(produce())).toBe('INVALID_STATE');
    expect(await media.census()).toMatchObject({ transports: 1, producers: 1, consumers: 0 });

    // Alice starts over again and again, bob receiving each new producer on a new plain transport
    // (as the SDK does): neither of them piles up transports towards the limit.
    for (let i = 0; i < 5; i++) {
      const send = await alice.request('media:create-transport', { callId, direction: 'send', type: 'plain' });
      const closed = bob.waitFor('media:producer-closed', (e) => e.producerId === latest);
      const { producerId } = await alice.request('media:produce', {
        transportId: send.transportId,
        kind: 'audio',
        rtpParameters: plainRtpParameters('audio', 5000 + i),
      });
      expect((await closed).reason).toBe('replaced');
      latest = producerId;
      await bob.request('media:consume', { transportId: await newRecv(), producerId, rtpCapabilities: PLAIN_RTP_CAPABILITIES });
      expect(await media.census()).toMatchObject({ transports: 2, producers: 1, consumers: 1 });
    }
    expect(aliceClosed).toEqual([]);

    await alice.request('call:hangup', { callId });
    expect(await media.census()).toMatchObject({ transports: 0, producers: 0, consumers: 0 });
    aliceSend.close();
    leg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('sends plain RTP only to the client’s own address or an allowed block', async () => {
    const [alice, bob] = [await connectedUser(gw, 'alice'), await connectedUser(gw, 'bob')];
    await befriend(alice, bob);
    const callId = await activeCall(alice, bob);
    const recv = async () => (await bob.request('media:create-transport', { callId, direction: 'recv', type: 'plain' })).transportId;

    // The test client connects from 127.0.0.1: another host's address is refused, with the field named.
    const foreign = await bob.rawRequest('media:connect-transport', { transportId: await recv(), ip: '127.0.0.2', port: 5004 });
    expect(foreign).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', details: { fields: [{ field: 'ip' }] } } });
    expect(await refusalCode(bob.request('media:connect-transport', { transportId: await recv(), ip: '10.1.2.3', port: 5004 }))).toBe(
      'FORBIDDEN',
    );
    // Its own address is fine; so is one inside MEDIA_PLAIN_RTP_ALLOWED_CIDRS (127.0.0.64/30).
    await bob.request('media:connect-transport', { transportId: await recv(), ip: '127.0.0.1', port: 5004 });
    await bob.request('media:connect-transport', { transportId: await recv(), ip: '127.0.0.66', port: 5004 });
    await alice.request('call:hangup', { callId });
    alice.disconnect();
    bob.disconnect();
  });

  it('gives every WebRTC transport of a worker the same port, whichever call it belongs to', async () => {
    const users = await Promise.all(['a', 'b', 'c', 'd'].map((p) => connectedUser(gw, p)));
    await befriend(users[0], users[1]);
    await befriend(users[2], users[3]);
    const calls = [await activeCall(users[0], users[1]), await activeCall(users[2], users[3])];
    const transports = await Promise.all([
      users[0].request('media:create-transport', { callId: calls[0], direction: 'send', type: 'webrtc' }),
      users[1].request('media:create-transport', { callId: calls[0], direction: 'recv', type: 'webrtc' }),
      users[2].request('media:create-transport', { callId: calls[1], direction: 'send', type: 'webrtc' }),
    ]);
    const ports = new Set<string>();
    for (const t of transports) {
      const candidates = (t as { iceCandidates: { protocol: string; port: number; ip: string }[] }).iceCandidates;
      expect(candidates.map((c) => c.protocol).sort()).toEqual(['tcp', 'udp']);
      for (const c of candidates) ports.add(`${c.protocol}:${c.port}`);
    }
    // One UDP and one TCP port for all three transports of two calls (one worker in tests).
    expect(ports.size).toBe(2);
    await users[0].request('call:hangup', { callId: calls[0] });
    await users[2].request('call:hangup', { callId: calls[1] });
    for (const u of users) u.disconnect();
  });
});

describe('plain RTP switched off (MEDIA_PLAIN_RTP=false)', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { MEDIA_PLAIN_RTP: 'false' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('refuses plain transports with FORBIDDEN and still offers WebRTC ones', async () => {
    const [alice, bob] = [await connectedUser(gw, 'alice'), await connectedUser(gw, 'bob')];
    await befriend(alice, bob);
    const callId = await activeCall(alice, bob);
    expect(await refusalCode(alice.request('media:create-transport', { callId, direction: 'send', type: 'plain' }))).toBe('FORBIDDEN');
    const webrtc = await alice.request('media:create-transport', { callId, direction: 'send', type: 'webrtc' });
    expect(webrtc).toHaveProperty('iceParameters');
    await alice.request('call:hangup', { callId });
    alice.disconnect();
    bob.disconnect();
  });
});
