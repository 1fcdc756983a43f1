import crypto from 'node:crypto';
import { createClient } from 'redis';
import { befriend, SocialClient } from '@app/client';
import { redisNamespace } from '@app/config';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, waitUntil } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A gauge of a gateway's fan-out: `socketio_adapter_sole_process` is 1 while it is the only gateway
 * process of its service on Redis, `socketio_adapter_sole_user_rooms` the users it holds alone.
 */
async function soleGauge(url: string, name = 'socketio_adapter_sole_process'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
const soleRooms = (url: string) => soleGauge(url, 'socketio_adapter_sole_user_rooms');

/**
 * A gateway that is the only gateway process of its service on Redis (media
 * nodes do not count) delivers its emits locally and publishes none; a
 * second gateway ends that at once (its users hear the first one's emits),
 * and once it is gone the first is alone again within a recheck
 * (SOCKET_PLACE_LEASE_MS). With two, an emit for a user whose sockets are
 * all on the emitting process is not published either, until a device of
 * that user connects to the other.
 */
describe('fan-out when one gateway process is alone on Redis', () => {
  let db: TestDatabase;
  const gateways: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];
  const spy = createClient({ url: REDIS_URL });
  const markers = createClient({ url: REDIS_URL });
  /** What Redis carried on each user's shard channel, by user id. */
  const published = new Map<string, string[]>();
  const env = { REDIS_URL, MEDIA_WORKERS: '1', SOCKET_PLACE_LEASE_MS: '600' };

  beforeAll(async () => {
    db = await createTestDatabase();
    await Promise.all([spy.connect(), markers.connect()]);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all([spy.quit(), markers.quit()]);
    await db?.drop();
  });

  /** A user's room channel in this service, as the gateways name it (the service is its DATABASE_URL). */
  const userChannel = (userId: string) => `${redisNamespace('socket.io', db.url)}#/#user:${userId}#`;

  async function on(gw: SpawnedGateway, prefix: string): Promise<SocialClient> {
    const c = await device(gw, uniqueHandle(prefix));
    published.set(c.id, []);
    await spy.sSubscribe(userChannel(c.id), (message) => published.get(c.id)!.push(message));
    return c;
  }

  /** Another device of a user (by handle) on a gateway. */
  async function device(gw: SpawnedGateway, handle: string): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, handle)).connect();
    clients.push(c);
    return c;
  }

  /** A DM from `from` to `to`, once `to` heard it, and everything Redis carried for `to` up to then. */
  async function dm(from: SocialClient, to: SocialClient): Promise<string[]> {
    const clientMsgId = crypto.randomUUID();
    const heard = to.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    await from.request('dm:send', { to: to.id, clientMsgId, body: 'sole?' });
    await heard;
    // A marker after the DM on the same channel: Redis keeps a channel's order, so a publish of the DM came first.
    const marker = `marker-${clientMsgId}`;
    await markers.sPublish(userChannel(to.id), marker);
    await waitUntil(() => published.get(to.id)!.includes(marker));
    const carried = published.get(to.id)!.splice(0);
    return carried.filter((m) => m !== marker && m.includes(clientMsgId));
  }

  it('publishes nothing while alone, publishes to a second process while it is there, and stops after it left', async () => {
    // A media node of the service is on Redis too, but holds no sockets: it does not count.
    gateways.push(await spawnGateway(db.url, { ...env, NODE_ROLE: 'media' }));
    const first = await spawnGateway(db.url, env);
    gateways.push(first);
    await waitUntil(async () => (await soleGauge(first.url)) === 1);
    // The media node keeps no list of the nodes on a timer (it routes nothing), yet reads it when asked.
    const mediaNodes = async () => ((await (await fetch(`${gateways[0].url}/health`)).json()) as { mediaNodes: number }).mediaNodes;
    await waitUntil(async () => (await mediaNodes()) === 2);
    const alice = await on(first, 'sa');
    const bob = await on(first, 'sb');
    await befriend(alice, bob);
    expect(await dm(alice, bob)).toEqual([]);

    const second = await spawnGateway(db.url, env);
    gateways.push(second);
    // The second process announced itself before it took a socket: the first no longer delivers alone.
    expect(await soleGauge(first.url)).toBe(0);
    expect(await soleGauge(second.url)).toBe(0);
    const carol = await on(second, 'sc');
    await befriend(alice, carol);
    expect(await dm(alice, carol)).toHaveLength(1);
    expect([await soleRooms(first.url), await soleRooms(second.url)]).toEqual([2, 1]);
    // Bob's sockets are all on the first process: his room is its own, and his copy stays there.
    expect(await dm(alice, bob)).toEqual([]);

    // Carol's room was the second's alone; her device on the first claims it there before it connects,
    // so from then on the second publishes her copies (here, of her own DM for her other device).
    const carolOnFirst = await device(first, carol.user.handle);
    expect([await soleRooms(first.url), await soleRooms(second.url)]).toEqual([2, 0]);
    const clientMsgId = crypto.randomUUID();
    const otherDeviceHears = carolOnFirst.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    await carol.request('dm:send', { to: alice.id, clientMsgId, body: 'from my phone' });
    expect((await otherDeviceHears).message.senderId).toBe(carol.id);
    expect(await dm(bob, carol)).toHaveLength(1);
    carolOnFirst.disconnect();

    carol.disconnect();
    await second.stop();
    await waitUntil(async () => (await soleGauge(first.url)) === 1);
    expect(await dm(alice, bob)).toEqual([]);
    expect(await dm(bob, alice)).toEqual([]);
  });
});
