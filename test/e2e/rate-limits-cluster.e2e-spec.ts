import crypto from 'node:crypto';
import { SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, waitUntil } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** How many uses of `rule` a gateway decided itself (rate_limit_decided_here_total). */
async function decidedHere(gw: SpawnedGateway, rule: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = new RegExp(`^rate_limit_decided_here_total\\{rule="${rule}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function gauge(gw: SpawnedGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * Rate limits live in Redis with several gateway processes; a request of a
 * user whose sockets are all on one process is decided by that process
 * without waiting for Redis (and counted there after). These check which
 * requests each process decides itself as a user's devices come and go.
 */
describe('rate limits decided by the process holding a user alone', () => {
  let db: TestDatabase;
  const gateways: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];
  const env = { REDIS_URL, MEDIA_WORKERS: '1', SOCKET_PLACE_LEASE_MS: '600' };
  const RULE = 'call:hangup';

  beforeAll(async () => {
    db = await createTestDatabase();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(gateways.map((g) => g.stop()));
    await db?.drop();
  });

  async function device(gw: SpawnedGateway, handle: string): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, handle)).connect();
    clients.push(c);
    return c;
  }

  /** One request counted against RULE (the call does not exist: refused after the limit is counted). */
  async function hangUp(c: SocialClient): Promise<void> {
    await expect(c.request(RULE, { callId: crypto.randomUUID() })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }

  it('decides for users it holds alone, and leaves a user with a device on another process to Redis', async () => {
    const first = await spawnGateway(db.url, env);
    gateways.push(first);
    await waitUntil(async () => (await gauge(first, 'socketio_adapter_sole_process')) === 1);
    const alice = await device(first, uniqueHandle('ra'));
    await hangUp(alice);
    expect(await decidedHere(first, RULE)).toBe(1);

    const second = await spawnGateway(db.url, env);
    gateways.push(second);
    const bob = await device(first, uniqueHandle('rb'));
    const carol = await device(second, uniqueHandle('rc'));
    // Neither process is alone now; each still holds its own users alone.
    await waitUntil(async () => (await gauge(first, 'socketio_adapter_sole_user_rooms')) === 2);
    await Promise.all([hangUp(alice), hangUp(bob), hangUp(carol)]);
    expect([await decidedHere(first, RULE), await decidedHere(second, RULE)]).toEqual([3, 1]);

    // Alice's second device on the other process: her requests are counted in Redis and wait for it, on both.
    const aliceElsewhere = await device(second, alice.user.handle);
    await Promise.all([hangUp(alice), hangUp(aliceElsewhere), hangUp(bob)]);
    expect([await decidedHere(first, RULE), await decidedHere(second, RULE)]).toEqual([4, 1]);

    // Once that device left (and Alice claimed her room again with a new socket), the first decides for her again.
    aliceElsewhere.disconnect();
    alice.disconnect();
    // Both processes let her room go: only Bob's and Carol's sockets are left.
    await waitUntil(async () => (await gauge(first, 'socket_connections')) === 1);
    await waitUntil(async () => (await gauge(second, 'socket_connections')) === 1);
    const aliceBack = await device(first, alice.user.handle);
    await hangUp(aliceBack);
    expect(await decidedHere(first, RULE)).toBe(5);
  });
});
