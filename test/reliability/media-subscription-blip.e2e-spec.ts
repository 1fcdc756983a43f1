import { createClient } from 'redis';
import { befriend, PlainCallMedia, SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, sleep } from '@app/testing';
import { RedisGate } from '../support/redis-gate';
import { exchangeTones, nodeIdOf, roomOf, TalkingLegs } from '../support/media-nodes';

/*
 * A gateway process and a media node process (NODE_ROLE=media) holding an
 * active call. Redis drops the node's subscriber connection (CLIENT KILL)
 * and, for a second, lets it not come back (the node reaches Redis through
 * a gate that holds its new connections): the gateway finds nobody on the
 * node's channel meanwhile, but the node's command connection is still
 * open, so the call keeps its room, with no media:restart. Then the node is
 * SIGKILLed: it is found lost at once, as before, and the call moves.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = { MEDIA_WORKERS: '1', CALL_RECONNECT_GRACE_MS: '30000', MEDIA_REQUEST_TIMEOUT_MS: '5000', LOG_LEVEL: 'info' };
/** The blip: longer than several of the gateway's probe rounds (every 250 ms), shorter than a request's timeout. */
const BLIP_MS = 1_500;

type Redis = ReturnType<typeof createClient>;

/** The node's subscriber connection as Redis lists it (named `<namespace>:<nodeId>:sub`). */
async function subscriberOf(admin: Redis, nodeId: string) {
  return (await admin.clientList()).find((c) => c.name.includes(`:${nodeId}:`) && c.name.endsWith(':sub'));
}

describe('a media node whose Redis subscription drops for a moment keeps its calls', () => {
  let db: TestDatabase;
  let admin: Redis;
  let gate: RedisGate;
  const processes: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];
  const media: PlainCallMedia[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = createClient({ url: REDIS_URL });
    await admin.connect();
    gate = await RedisGate.start(REDIS_URL);
  });
  afterAll(async () => {
    for (const m of media.splice(0)) m.close();
    for (const c of clients.splice(0)) c.disconnect();
    gate?.release();
    for (const p of processes.splice(0)) await p.kill();
    await gate?.close();
    await admin?.quit();
    await db?.drop();
  });

  const spawn = async (env: Record<string, string>) => {
    const p = await spawnGateway(db.url, { ...BASE, ...env });
    processes.push(p);
    return p;
  };
  const client = async (url: string, prefix: string) => {
    const c = await (await SocialClient.login(url, uniqueHandle(prefix))).connect();
    clients.push(c);
    return c;
  };

  it('rides out a subscriber that reconnects late, and still finds a killed node lost at once', async () => {
    const gw = await spawn({ NODE_ROLE: 'gateway', REDIS_URL });
    // Heartbeats that stay true for 10 s: a node found lost sooner was found through Redis's connections.
    const node1 = await spawn({ NODE_ROLE: 'media', REDIS_URL: gate.url, MEDIA_HEARTBEAT_TTL_MS: '10000' });
    const first = nodeIdOf(node1);
    const alice = await client(gw.url, 'alice');
    const bob = await client(gw.url, 'bob');
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id });
    const callId = (await bob.request('call:accept', { callId: ringing.call.id })).call.id;
    media.push(...(await Promise.all([PlainCallMedia.start(alice, callId), PlainCallMedia.start(bob, callId)])));
    const legs = (): TalkingLegs => ({ sends: media.map((m) => m.send!), receives: media.map((m) => m.receive!) });
    await Promise.all(media.map((m) => m.ready()));
    await exchangeTones(legs());
    expect((await roomOf(db.url, callId)).node).toBe(first);

    // The blip: Redis drops the node's subscriber, which cannot come back until the gate opens.
    const subscriber = await subscriberOf(admin, first);
    expect(subscriber?.sub).toBeGreaterThan(0);
    gate.hold();
    await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(subscriber!.id)]);
    expect(await subscriberOf(admin, first)).toBeUndefined();
    // A participant's request sent now waits for the node rather than failing; meanwhile the
    // gateway's probes find nobody on the node's channel, round after round.
    const asked = alice.rawRequest('media:capabilities', { callId });
    await sleep(BLIP_MS);
    expect(await subscriberOf(admin, first)).toBeUndefined();
    gate.release();
    expect(await asked).toMatchObject({ ok: true });
    // The node subscribed again by itself.
    for (let i = 0; !(await subscriberOf(admin, first))?.sub; i++) {
      if (i > 100) throw new Error('the node did not subscribe again');
      await sleep(50);
    }
    // A few recovery sweeps later: nothing moved, nobody was told to restart.
    await sleep(1_000);
    expect(media.map((m) => m.restarts)).toEqual([[], []]);
    expect(await roomOf(db.url, callId)).toEqual({ node: first, state: 'active' });
    expect(gw.logs.filter((l) => l.includes('media node gone'))).toEqual([]);
    await exchangeTones(legs());

    // The node's process dies: found lost well before its heartbeat expires, the call moves.
    const node2 = await spawn({ NODE_ROLE: 'media', REDIS_URL });
    const killedAt = Date.now();
    await node1.kill();
    for (let i = 0; media.some((m) => m.restarts.length === 0); i++) {
      if (i > 200) throw new Error('no media:restart after the node was killed');
      await sleep(50);
    }
    expect(media.map((m) => m.restarts)).toEqual([['node_lost'], ['node_lost']]);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    await Promise.all(media.map((m) => m.ready()));
    expect(await roomOf(db.url, callId)).toEqual({ node: nodeIdOf(node2), state: 'active' });
    await exchangeTones(legs());
    await alice.request('call:hangup', { callId });
  }, 180_000);
});
