import { createClient } from 'redis';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, waitForValue } from '@app/testing';
import { RedisGate } from '../support/redis-gate';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

type Redis = ReturnType<typeof createClient>;

/** Names of the connections open in Redis that start with `prefix`. */
async function openConnections(admin: Redis, prefix: string): Promise<string[]> {
  const list = await admin.sendCommand<string>(['CLIENT', 'LIST']);
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(prefix))
    .sort();
}

/** Redis client ids of the connections with these names. */
async function connectionIds(admin: Redis, names: string[]): Promise<string[]> {
  const list = await admin.sendCommand<string>(['CLIENT', 'LIST']);
  return list
    .split('\n')
    .filter((line) => names.includes(/(?:^| )name=(\S*)/.exec(line)?.[1] ?? ''))
    .map((line) => /(?:^| )id=(\d+)/.exec(line)![1]);
}

async function readiness(url: string): Promise<{ status: number; body: { ready: boolean; redis?: string } }> {
  const res = await fetch(`${url}/health/ready`);
  return { status: res.status, body: await res.json() };
}

/**
 * One owner of a gateway's Redis connections: each named, readiness says
 * not ready while a required one is down, and a graceful stop closes them all.
 */
describe('a gateway process and its Redis connections', () => {
  let db: TestDatabase;
  let gate: RedisGate;
  let admin: Redis;
  let gw: SpawnedGateway;
  let tag: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    gate = await RedisGate.start(REDIS_URL);
    admin = createClient({ url: REDIS_URL });
    await admin.connect();
    gw = await spawnGateway(db.url, { REDIS_URL: gate.url, MEDIA_WORKERS: '1' });
    const listening = gw.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'gateway listening');
    tag = listening.redisConnections;
  }, 120_000);
  afterAll(async () => {
    await gw?.kill();
    await admin?.quit();
    await gate?.close();
    await db?.drop();
  });

  it('opens each connection once, under its name', async () => {
    expect(tag).toMatch(/^conn-/);
    expect(await openConnections(admin, `${tag}:`)).toEqual(
      ['adapter-pub', 'adapter-sub', 'announced-producers', 'rate-limits', 'socket-places'].map((n) => `${tag}:${n}`),
    );
    expect(await readiness(gw.url)).toEqual({ status: 200, body: { ready: true, db: 'up', draining: false, redis: 'up' } });
  });

  it('is not ready while the socket.io adapter cannot reach Redis, and ready again once it can', async () => {
    gate.hold();
    // Only this process's adapter connections: Redis is shared with other tests.
    for (const id of await connectionIds(admin, [`${tag}:adapter-pub`, `${tag}:adapter-sub`])) {
      await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    }
    const down = await waitForValue(async () => {
      const r = await readiness(gw.url);
      return r.status === 503 ? r : undefined;
    });
    expect(down.body).toMatchObject({ ready: false, redis: 'down' });
    gate.release();
    const up = await waitForValue(async () => {
      const r = await readiness(gw.url);
      return r.status === 200 ? r : undefined;
    });
    expect(up.body).toMatchObject({ ready: true, redis: 'up' });
  });

  it('closes every connection on a graceful stop', async () => {
    await waitForValue(async () => ((await openConnections(admin, `${tag}:`)).length === 5 ? true : undefined));
    expect(await gw.stop()).toBe(0);
    expect(await openConnections(admin, `${tag}:`)).toEqual([]);
  });
});
