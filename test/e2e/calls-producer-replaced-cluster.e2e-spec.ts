import { createClient } from 'redis';
import { befriend, PlainSendStream, SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle } from '@app/testing';
import { nodeIdOf, roomNodeOf } from '../support/media-nodes';

/*
 * One service of several OS processes (same database, same Redis): two
 * gateways (NODE_ROLE=gateway) and two media nodes (NODE_ROLE=media). After
 * the room's node is killed and the room opened on the other node
 * (media:restart), the old room and its producers are gone. A participant
 * who produced through one gateway produces again through the other: the
 * peer still hears the first producer closed (reason `replaced`) before the
 * new one is added, since every gateway sees which producer came last.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = { REDIS_URL, MEDIA_WORKERS: '1', CALL_RECONNECT_GRACE_MS: '30000', MEDIA_REQUEST_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' };

/** The Redis keys holding the call's announced producers (whatever the service's namespace). */
async function producerKeysOf(redis: ReturnType<typeof createClient>, callId: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of redis.scanIterator({ MATCH: `calls:*:producers:${callId}`, COUNT: 1000 })) keys.push(key);
  return keys;
}

type Seen = { event: 'closed' | 'added'; producerId: string; reason?: string };

describe('media:producer-closed `replaced` across gateways', () => {
  let db: TestDatabase;
  let redis: ReturnType<typeof createClient>;
  const processes: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];
  const streams: PlainSendStream[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = createClient({ url: REDIS_URL });
    await redis.connect();
  });
  afterEach(async () => {
    streams.splice(0).forEach((s) => s.close());
    for (const c of clients.splice(0)) c.disconnect();
    for (const p of processes.splice(0)) await p.kill();
  });
  afterAll(async () => {
    await redis?.quit();
    await db?.drop();
  });

  const spawn = async (env: Record<string, string>) => {
    const p = await spawnGateway(db.url, { ...BASE, ...env });
    processes.push(p);
    return p;
  };
  const connect = async (c: SocialClient) => {
    clients.push(c);
    return c.connect();
  };

  it('tells the peer the producer a new one replaced when the new one comes through another gateway after the room moved', async () => {
    // Gateways first: the media nodes' heartbeats are what they place rooms on.
    const [gw1, gw2] = await Promise.all([spawn({ NODE_ROLE: 'gateway' }), spawn({ NODE_ROLE: 'gateway' })]);
    const [node1, node2] = await Promise.all([spawn({ NODE_ROLE: 'media' }), spawn({ NODE_ROLE: 'media' })]);
    const nodes = new Map([
      [nodeIdOf(node1), node1],
      [nodeIdOf(node2), node2],
    ]);
    const alice = await connect(await SocialClient.login(gw1.url, uniqueHandle('alice')));
    const bob = await connect(await SocialClient.login(gw2.url, uniqueHandle('bob')));
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id });
    const callId = (await bob.request('call:accept', { callId: ringing.call.id })).call.id;

    // What bob hears of alice's producers, in order.
    const seen: Seen[] = [];
    bob.on(
      'media:producer-closed',
      (e) => e.callId === callId && seen.push({ event: 'closed', producerId: e.producerId, reason: e.reason }),
    );
    bob.on(
      'media:producer-added',
      (e) => e.callId === callId && e.userId === alice.id && seen.push({ event: 'added', producerId: e.producerId }),
    );

    // Alice's first producer goes through gateway 1.
    await alice.request('media:capabilities', { callId });
    const firstAdded = bob.waitFor('media:producer-added', (e) => e.callId === callId, 15_000);
    const first = await PlainSendStream.open(alice, callId, 'audio');
    streams.push(first);
    expect((await firstAdded).producerId).toBe(first.producerId);
    expect(await producerKeysOf(redis, callId)).toHaveLength(1);

    // The room's node dies: the room opens on the other node, without alice's producer.
    const from = (await roomNodeOf(db.url, callId))!;
    const restarted = Promise.all([alice, bob].map((c) => c.waitFor('media:restart', (e) => e.callId === callId, 15_000)));
    await nodes.get(from)!.kill();
    expect((await restarted).map((e) => e.reason)).toEqual(['node_lost', 'node_lost']);
    const to = await roomNodeOf(db.url, callId);
    expect(to).not.toBe(from);
    expect(nodes.has(to!)).toBe(true);
    first.close();

    // Alice negotiates again through gateway 2 (a second connection of hers), which never saw her first producer.
    const aliceOn2 = await connect(new SocialClient(gw2.url, alice.token, alice.user));
    await aliceOn2.request('media:capabilities', { callId });
    const secondAdded = bob.waitFor('media:producer-added', (e) => e.callId === callId && e.producerId !== first.producerId, 15_000);
    const second = await PlainSendStream.open(aliceOn2, callId, 'audio');
    streams.push(second);
    expect((await secondAdded).producerId).toBe(second.producerId);
    expect(seen).toEqual([
      { event: 'added', producerId: first.producerId },
      { event: 'closed', producerId: first.producerId, reason: 'replaced' },
      { event: 'added', producerId: second.producerId },
    ]);

    // The call ends: its record goes with it.
    await bob.request('call:hangup', { callId });
    expect(await producerKeysOf(redis, callId)).toEqual([]);
  }, 180_000);
});
