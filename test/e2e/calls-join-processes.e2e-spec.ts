import { befriend, checkTone, EncodedTone, SocialClient } from '@app/client';
import type { CallQualityDto } from '@app/contracts';
import { MediaService } from '@app/media';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';
import { JoinedLeg } from './media-join-legs';

/*
 * media:join when the room is on another process's media node: the join
 * travels the media bus as one request, consumers made on the node reach
 * the participant through the gateway it is connected to, and so do the
 * quality samples.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('media:join through a gateway-only process', () => {
  let node: TestGateway;
  let gateway: TestGateway;

  beforeAll(async () => {
    const env = { REDIS_URL, CALL_QUALITY_INTERVAL_MS: '200' };
    node = await startTestGateway({ env });
    // A gateway only: every room is on the other process's node.
    gateway = await startTestGateway({ db: node.db, env: { ...env, NODE_ROLE: 'gateway' } });
  });
  afterAll(async () => {
    await gateway?.close();
    await node?.close();
  });

  it('sets up a call in three round trips over the bus; both hear each other, consumers and quality arrive pushed', async () => {
    const [alice, bob] = await Promise.all(
      ['alice', 'bob'].map(async (name) => (await SocialClient.login(gateway.url, uniqueHandle(name))).connect()),
    );
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    const callId = ringing.call.id;
    const [aliceLeg, bobLeg] = await Promise.all([JoinedLeg.open(alice, callId), JoinedLeg.open(bob, callId)]);
    const active = alice.waitFor('call:state', (e) => e.call.id === callId && e.call.state === 'active');
    const bobGetsAlice = bob.waitFor('media:consumer-added', (e) => e.callId === callId);
    bobLeg.joined((await bob.request('call:accept', { callId, join: bobLeg.options() })).media!);
    await active;
    aliceLeg.joined(await alice.request('media:join', { callId, ...aliceLeg.options() }));
    bobLeg.addConsumer(await bobGetsAlice);
    expect((await node.get(MediaService).census()).rooms).toBe(1);

    const quality: CallQualityDto[] = [];
    bob.on('call:quality', (q) => {
      if (q.callId === callId) quality.push(q);
    });
    const [toBob, toAlice] = await Promise.all([aliceLeg.sendTone(440, 1000), bobLeg.sendTone(660, 1000)]);
    await Promise.all([
      bobLeg.waitForPackets(aliceLeg.producerId('audio'), toBob, 5000),
      aliceLeg.waitForPackets(bobLeg.producerId('audio'), toAlice, 5000),
    ]);
    const tone = (leg: JoinedLeg, producerId: string, hz: number, sent: number) =>
      checkTone(
        leg.receivedOf(producerId).map((p) => p.payload),
        EncodedTone.of(hz),
        sent,
      ).passed;
    expect(tone(bobLeg, aliceLeg.producerId('audio'), 440, toBob)).toBe(true);
    expect(tone(aliceLeg, bobLeg.producerId('audio'), 660, toAlice)).toBe(true);
    expect(quality.length).toBeGreaterThan(0);
    expect(new Set(quality.map((q) => q.at)).size).toBe(quality.length);

    await alice.request('call:hangup', { callId });
    const [stored] = (await alice.route('GET /calls', '/calls?limit=1')).calls;
    expect(stored.mediaStats?.legs.some((l) => l.userId === bob.id && l.direction === 'down' && l.packets > 0)).toBe(true);
    aliceLeg.close();
    bobLeg.close();
    alice.disconnect();
    bob.disconnect();
  });
});
