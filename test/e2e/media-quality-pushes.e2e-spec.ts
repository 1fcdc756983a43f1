import { befriend, plainRtpParameters, randomSsrc, rtpHeader, RtpUdpSocket, SocialClient } from '@app/client';
import { MediaService } from '@app/media';
import type { MediaNodePush } from '@app/media-routing';
import { CallQualityDto, responseSchemas } from '@app/contracts';
import { Client } from 'pg';
import { createClient } from 'redis';
import {
  connectedUser,
  createTestDatabase,
  pushFence,
  spawnGateway,
  SpawnedGateway,
  startTestGateway,
  TestDatabase,
  TestGateway,
  uniqueHandle,
  sleep,
} from '@app/testing';
import { JoinedLeg } from './media-join-legs';

/*
 * call:quality pushes and a finished call's mediaStats: what the SFU
 * measured, told to each participant socket exactly once whichever gateway
 * process holds it, and bounded whatever the clients did.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const INTERVAL_MS = 200;

/**
 * Collects a socket's call:quality pushes from now on; `of` reads one call's. Started before the
 * call, so every socket hears its first sample: a listener added once the call is set up can miss
 * a sample one socket took in while the set-up's last answer was still on its way.
 */
function qualityPushes(client: SocialClient): { of(callId: string): CallQualityDto[] } {
  const seen: CallQualityDto[] = [];
  client.on('call:quality', (q) => seen.push(q));
  return { of: (callId) => seen.filter((q) => q.callId === callId) };
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** invite, accept with join, the caller's join: both legs joined with an audio producer. */
async function joinedCall(caller: SocialClient, callee: SocialClient) {
  const ringing = await caller.request('call:invite', { to: callee.id, media: 'audio' });
  const callId = ringing.call.id;
  const [callerLeg, calleeLeg] = await Promise.all([JoinedLeg.open(caller, callId), JoinedLeg.open(callee, callId)]);
  const active = caller.waitFor('call:state', (e) => e.call.id === callId && e.call.state === 'active');
  const consumerAdded = callee.waitFor('media:consumer-added', (e) => e.callId === callId);
  // Awaited below; a failed step before then must not leave their timeouts to fail a later test.
  for (const waiting of [active, consumerAdded]) waiting.catch(() => undefined);
  calleeLeg.joined((await callee.request('call:accept', { callId, join: calleeLeg.options() })).media!);
  await active;
  await callerLeg.join();
  calleeLeg.addConsumer(await consumerAdded);
  return { callId, callerLeg, calleeLeg };
}

/** The media pushes published through Redis (any service's) that name `callId` (and are of `type`), from now on. */
async function publishedPushes(): Promise<{ of(callId: string, type?: MediaNodePush['type']): number; close(): Promise<void> }> {
  const subscriber = createClient({ url: REDIS_URL });
  await subscriber.connect();
  const seen: string[] = [];
  await subscriber.pSubscribe('media:*:pushes', (message) => seen.push(message));
  return {
    of: (callId, type) => seen.filter((m) => m.includes(callId) && (!type || (JSON.parse(m) as MediaNodePush).type === type)).length,
    close: async () => void (await subscriber.quit()),
  };
}

describe('call:quality across two gateway processes', () => {
  let one: TestGateway;
  let two: TestGateway;

  beforeAll(async () => {
    const env = { REDIS_URL, CALL_QUALITY_INTERVAL_MS: String(INTERVAL_MS) };
    one = await startTestGateway({ env });
    two = await startTestGateway({ env, db: one.db });
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  it('reaches every participant socket once per interval, on whichever process it is connected', async () => {
    const alice = await connectedUser(one, 'alice');
    // The same user signed in again, connected to the other process.
    const aliceElsewhere = await (await SocialClient.login(two.url, alice.user.handle)).connect();
    const bob = await (await SocialClient.login(two.url, uniqueHandle('bob'))).connect();
    await befriend(alice, bob);
    const heard = [alice, aliceElsewhere, bob].map(qualityPushes);
    const published = await publishedPushes();
    const { callId, callerLeg, calleeLeg } = await joinedCall(alice, bob);

    const talking = callerLeg.sendTone(440, 1500);
    await waitFor(() => heard.every((h) => h.of(callId).length >= 4));
    await talking;
    const pushes = heard.map((h) => h.of(callId));

    for (const list of pushes) {
      for (const q of list) responseSchemas.callQuality.parse(q);
      // Each sample once per socket: no two pushes of one socket carry the same time.
      expect(new Set(list.map((q) => q.at)).size).toBe(list.length);
    }
    // Alice's two sockets, on two processes, heard the same samples.
    const common = Math.min(pushes[0].length, pushes[1].length) - 1;
    expect(pushes[1].slice(0, common).map((q) => q.at)).toEqual(pushes[0].slice(0, common).map((q) => q.at));
    // What the SFU received from alice shows in a sample while she talks.
    const aliceUp = pushes[2].flatMap((q) => q.legs).filter((l) => l.userId === alice.id && l.direction === 'up' && l.kind === 'audio');
    expect(aliceUp.some((l) => l.packets > 0 && l.bitrateBps > 0)).toBe(true);
    const bobDown = pushes[2].flatMap((q) => q.legs).filter((l) => l.userId === bob.id && l.direction === 'down');
    expect(bobDown.some((l) => l.packets > 0)).toBe(true);
    // Sockets on both processes: the node's pushes went through Redis to both.
    expect(published.of(callId)).toBeGreaterThan(0);

    await published.close();
    await bob.request('call:hangup', { callId });
    callerLeg.close();
    calleeLeg.close();
    for (const c of [alice, aliceElsewhere, bob]) c.disconnect();
  });
});

describe('pushes for participants one gateway process holds alone', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ env: { REDIS_URL, CALL_QUALITY_INTERVAL_MS: String(INTERVAL_MS) } });
  });
  afterAll(() => gateway?.close());

  it('delivers consumer-added and call:quality there without publishing them through Redis', async () => {
    const alice = await connectedUser(gateway, 'alice');
    const bob = await connectedUser(gateway, 'bob');
    await befriend(alice, bob);
    const heard = [alice, bob].map(qualityPushes);
    const published = await publishedPushes();
    // joinedCall waits for bob's media:consumer-added.
    const { callId, callerLeg, calleeLeg } = await joinedCall(alice, bob);
    const talking = callerLeg.sendTone(440, 1000);
    await waitFor(() => heard.every((h) => h.of(callId).length >= 2));
    await talking;
    const pushes = heard.map((h) => h.of(callId));
    for (const list of pushes) expect(new Set(list.map((q) => q.at)).size).toBe(list.length);
    expect(published.of(callId)).toBe(0);

    await published.close();
    await bob.request('call:hangup', { callId });
    callerLeg.close();
    calleeLeg.close();
    for (const c of [alice, bob]) c.disconnect();
  });
});

describe('with CALL_QUALITY_INTERVAL_MS=0', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    // Starting over 150 times in a row needs more than the default rates of events and creations.
    gw = await startTestGateway({ env: { CALL_QUALITY_INTERVAL_MS: '0', EVENT_RATE_SCALE: '100' } });
    const media = gw.get(MediaService);
    media.limits = { ...media.limits, createsPerWindow: 1_000 };
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('pushes no call:quality, and still keeps the finished call’s mediaStats', async () => {
    const [alice, bob] = await Promise.all([connectedUser(gw, 'alice'), connectedUser(gw, 'bob')]);
    await befriend(alice, bob);
    const heard = [alice, bob].map(qualityPushes);
    const { callId, callerLeg, calleeLeg } = await joinedCall(alice, bob);
    const sent = await callerLeg.sendTone(440, 1200);
    await calleeLeg.waitForPackets(callerLeg.producerId('audio'), sent, 5000);
    // Every push sent to these sockets before the fence has arrived by now.
    await pushFence(bob, [alice]);
    await pushFence(alice, [bob]);
    expect(heard.map((h) => h.of(callId))).toEqual([[], []]);

    await alice.request('call:hangup', { callId });
    const [stored] = (await alice.route('GET /calls', '/calls?limit=1')).calls;
    expect(stored.id).toBe(callId);
    const stats = responseSchemas.mediaStats.parse(stored.mediaStats);
    const up = stats.legs.find((l) => l.userId === alice.id && l.direction === 'up' && l.kind === 'audio');
    expect(up?.packets).toBeGreaterThanOrEqual(0.9 * sent);
    callerLeg.close();
    calleeLeg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('keeps mediaStats typed and small after 150 producer replacements', async () => {
    const [alice, bob] = await Promise.all([connectedUser(gw, 'alice'), connectedUser(gw, 'bob')]);
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    const callId = ringing.call.id;
    await bob.request('call:accept', { callId });
    const closed = new Set<string>();
    bob.on('media:producer-closed', (e) => {
      if (e.callId === callId && e.reason === 'replaced') closed.add(e.producerId);
    });
    // A client starting over again and again: each join's new send transport and audio producer
    // replace the earlier ones, and each producer carries a few packets from the same socket.
    const socket = await RtpUdpSocket.open('127.0.0.1');
    let last = '';
    for (let i = 0; i < 151; i++) {
      const ssrc = randomSsrc();
      const joined = await alice.request('media:join', {
        callId,
        send: {
          type: 'plain',
          ip: '127.0.0.1',
          port: socket.address.port,
          produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', ssrc) }],
        },
      });
      const target = joined.send as { ip: string; port: number; producers: { producerId: string }[] };
      for (let n = 0; n < 3; n++) {
        await socket.send(
          [rtpHeader({ payloadType: 100, sequenceNumber: n, timestamp: n * 960, ssrc, marker: n === 0 }), Buffer.from([0x08, 1, 2, 3])],
          target.ip,
          target.port,
        );
      }
      last = target.producers[0].producerId;
    }
    await waitFor(() => closed.size >= 150);
    expect(closed.has(last)).toBe(false);
    await alice.request('call:hangup', { callId });
    socket.close();

    const [stored] = (await alice.route('GET /calls', '/calls?limit=1')).calls;
    expect(stored.id).toBe(callId);
    const stats = responseSchemas.mediaStats.parse(stored.mediaStats);
    expect(stats.legs.length).toBeLessThanOrEqual(8);
    const db = new Client({ connectionString: gw.db.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ bytes: number }>('SELECT octet_length(media_stats::text) AS bytes FROM calls WHERE id = $1', [
        callId,
      ]);
      expect(rows[0].bytes).toBeLessThan(1024 * 1024);
      // Bounded by the legs, not by the producers: far below the limit.
      expect(rows[0].bytes).toBeLessThan(16 * 1024);
    } finally {
      await db.end();
    }
    alice.disconnect();
    bob.disconnect();
  });
});

describe('where pushes go, between separate gateway processes', () => {
  let db: TestDatabase;
  let withRooms: SpawnedGateway;
  let gatewayOnly: SpawnedGateway;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { REDIS_URL, CALL_QUALITY_INTERVAL_MS: String(INTERVAL_MS), MEDIA_WORKERS: '1' };
    // Rooms open on the first process's node only: the second has none.
    [withRooms, gatewayOnly] = await Promise.all([spawnGateway(db.url, env), spawnGateway(db.url, { ...env, NODE_ROLE: 'gateway' })]);
  });
  afterAll(async () => {
    await Promise.all([withRooms?.kill(), gatewayOnly?.kill()]);
    await db?.drop();
  });

  it('keeps a push on the node’s process while it holds every recipient, and publishes it once a recipient is also elsewhere', async () => {
    const alice = await connectedUser(withRooms, 'alice');
    const bob = await connectedUser(withRooms, 'bob');
    await befriend(alice, bob);
    const published = await publishedPushes();
    try {
      const heardAlone = [alice, bob].map(qualityPushes);
      const alone = await joinedCall(alice, bob);
      const talking = alone.callerLeg.sendTone(440, 1000);
      await waitFor(() => heardAlone.every((h) => h.of(alone.callId).length >= 2));
      await talking;
      expect(published.of(alone.callId)).toBe(0);
      await bob.request('call:hangup', { callId: alone.callId });
      alone.callerLeg.close();
      alone.calleeLeg.close();

      // Alice signs in on the other process too: her pushes now cross Redis; Bob's still do not.
      const aliceElsewhere = await (await SocialClient.login(gatewayOnly.url, alice.user.handle)).connect();
      const heard = [alice, aliceElsewhere, bob].map(qualityPushes);
      const shared = await joinedCall(alice, bob);
      const talkingAgain = shared.callerLeg.sendTone(440, 1000);
      await waitFor(() => heard.every((h) => h.of(shared.callId).length >= 2));
      await talkingAgain;
      for (const list of heard.map((h) => h.of(shared.callId))) expect(new Set(list.map((q) => q.at)).size).toBe(list.length);
      expect(published.of(shared.callId, 'quality')).toBeGreaterThan(0);
      // Bob's consumer-added (joinedCall waited for it) had only him to reach, all on the node's process.
      expect(published.of(shared.callId, 'consumer-added')).toBe(0);
      await bob.request('call:hangup', { callId: shared.callId });
      shared.callerLeg.close();
      shared.calleeLeg.close();
      aliceElsewhere.disconnect();
    } finally {
      await published.close();
      alice.disconnect();
      bob.disconnect();
    }
  });
});
