import net from 'node:net';
import { createClient } from 'redis';
import { createRootLogger } from '@app/observability';
import { InMemoryAnnouncedProducers, RedisAnnouncedProducers } from './announced-producers';

/*
 * The record of each call's last producer per `userId:kind`, shared by every
 * process through the real Redis: a swap hands back exactly the producer it
 * replaces even when processes race, a call's record goes when it ends and
 * otherwise expires, and Redis failing or hanging leaves the process with
 * its own record instead of failing the produce.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL_MS = 120_000;

describe('RedisAnnouncedProducers', () => {
  const logger = createRootLogger('silent');
  const service = `announced-producers-spec-${process.pid}-${Date.now()}`;
  let one: RedisAnnouncedProducers;
  let two: RedisAnnouncedProducers;
  let redis: ReturnType<typeof createClient>;
  let seq = 0;
  const callId = () => `call-${++seq}`;

  beforeAll(async () => {
    // Two processes of one service: two stores with their own connections.
    [one, two] = await Promise.all([
      RedisAnnouncedProducers.connect(REDIS_URL, service, logger, { ttlMs: TTL_MS }),
      RedisAnnouncedProducers.connect(REDIS_URL, service, logger, { ttlMs: TTL_MS }),
    ]);
    redis = createClient({ url: REDIS_URL });
    await redis.connect();
  });
  afterAll(async () => {
    await Promise.all([one?.close(), two?.close(), redis?.quit()]);
  });

  it('returns the producer recorded before, whichever process recorded it', async () => {
    const call = callId();
    expect((await one.swap(call, 'alice:audio', 'p1')).earlier).toBeUndefined();
    expect((await two.swap(call, 'alice:audio', 'p2')).earlier).toBe('p1');
    expect((await one.swap(call, 'alice:audio', 'p3')).earlier).toBe('p2');
    // Other kinds, users and calls are separate.
    expect((await two.swap(call, 'alice:video', 'v1')).earlier).toBeUndefined();
    expect((await two.swap(call, 'bob:audio', 'b1')).earlier).toBeUndefined();
    expect((await one.swap(callId(), 'alice:audio', 'q1')).earlier).toBeUndefined();
    expect(await redis.hGetAll(one.keyOf(call))).toEqual({ 'alice:audio': 'p3', 'alice:video': 'v1', 'bob:audio': 'b1' });
  });

  it('answers each swap with who has produced what in the call, whichever process recorded it', async () => {
    const call = callId();
    expect((await one.swap(call, 'alice:audio', 'p1')).keys).toEqual(['alice:audio']);
    expect((await two.swap(call, 'bob:video', 'v1')).keys.sort()).toEqual(['alice:audio', 'bob:video']);
    expect((await one.swap(call, 'alice:audio', 'p2')).keys.sort()).toEqual(['alice:audio', 'bob:video']);
    await two.forgetCall(call);
    expect((await one.swap(call, 'bob:audio', 'b1')).keys).toEqual(['bob:audio']);
  });

  it('hands each earlier producer to exactly one of many racing swaps', async () => {
    const call = callId();
    const ids = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const earlier = (await Promise.all(ids.map((id, i) => (i % 2 ? one : two).swap(call, 'alice:audio', id)))).map((s) => s.earlier);
    // A chain: one swap came first, every other got a distinct predecessor, and the last one stays.
    expect(earlier.filter((e) => e === undefined)).toHaveLength(1);
    const handedBack = earlier.filter((e): e is string => e !== undefined);
    expect(new Set(handedBack).size).toBe(ids.length - 1);
    const last = await redis.hGet(one.keyOf(call), 'alice:audio');
    expect([...handedBack, last].sort()).toEqual([...ids].sort());
  });

  it('sets a TTL on the call’s hash and renews it with each swap', async () => {
    const call = callId();
    await one.swap(call, 'alice:audio', 'p1');
    await redis.pExpire(one.keyOf(call), 1_000);
    await two.swap(call, 'bob:audio', 'b1');
    const ttl = await redis.pTTL(one.keyOf(call));
    expect(ttl).toBeGreaterThan(TTL_MS - 10_000);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
  });

  it('deletes the call’s record when the call ends, on every process', async () => {
    const call = callId();
    await one.swap(call, 'alice:audio', 'p1');
    await two.swap(call, 'bob:audio', 'b1');
    await two.forgetCall(call);
    expect(await redis.exists(one.keyOf(call))).toBe(0);
    expect((await one.swap(call, 'alice:audio', 'p2')).earlier).toBeUndefined();
  });

  it('forgets a producer only while it is still the one recorded', async () => {
    const call = callId();
    await one.swap(call, 'alice:video', 'v1');
    await two.forgetIf(call, 'alice:video', 'v0');
    expect((await one.swap(call, 'alice:video', 'v2')).earlier).toBe('v1');
    await two.forgetIf(call, 'alice:video', 'v2');
    expect((await one.swap(call, 'alice:video', 'v3')).earlier).toBeUndefined();
  });

  it('keys calls by service: another service sharing Redis does not see them', async () => {
    const other = await RedisAnnouncedProducers.connect(REDIS_URL, `${service}-other`, logger, { ttlMs: TTL_MS });
    try {
      const call = callId();
      await one.swap(call, 'alice:audio', 'p1');
      expect((await other.swap(call, 'alice:audio', 'x1')).earlier).toBeUndefined();
      await other.forgetCall(call);
    } finally {
      await other.close();
    }
  });

  it('answers from the process’s own record when Redis fails', async () => {
    const client = createClient({ url: REDIS_URL, disableOfflineQueue: true });
    await client.connect();
    const store = new RedisAnnouncedProducers(client, `calls:failing-${service}`, logger, { ttlMs: TTL_MS });
    const call = callId();
    expect((await store.swap(call, 'alice:audio', 'p1')).earlier).toBeUndefined();
    await client.disconnect();
    expect((await store.swap(call, 'alice:audio', 'p2')).earlier).toBe('p1');
    await store.forgetIf(call, 'alice:audio', 'p2');
    expect((await store.swap(call, 'alice:audio', 'p3')).earlier).toBeUndefined();
    await store.forgetCall(call);
    expect((await store.swap(call, 'alice:audio', 'p4')).earlier).toBeUndefined();
    await store.close();
  });

  it('gives up on a Redis that stops answering after the command timeout', async () => {
    // The real Redis behind a relay that can stop passing requests on (a network that stalls).
    const target = new URL(REDIS_URL);
    let stalled = false;
    const sockets: net.Socket[] = [];
    const relay = net.createServer((client) => {
      const server = net.connect(Number(target.port || 6379), target.hostname);
      sockets.push(client, server);
      client.on('data', (chunk) => stalled || server.write(chunk));
      server.on('data', (chunk) => client.write(chunk));
      for (const s of [client, server]) s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const { port } = relay.address() as net.AddressInfo;
    const store = await RedisAnnouncedProducers.connect(`redis://127.0.0.1:${port}`, service, logger, {
      ttlMs: TTL_MS,
      commandTimeoutMs: 100,
    });
    try {
      const call = callId();
      expect((await store.swap(call, 'alice:audio', 'p1')).earlier).toBeUndefined();
      // Answered by Redis: another process's swap is seen.
      expect((await one.swap(call, 'alice:audio', 'p2')).earlier).toBe('p1');
      expect((await store.swap(call, 'alice:audio', 'p3')).earlier).toBe('p2');
      stalled = true;
      // Not answered: this process's own record (p3) stands in.
      expect((await store.swap(call, 'alice:audio', 'p4')).earlier).toBe('p3');
      await store.forgetCall(call);
      await one.forgetCall(call);
    } finally {
      await store.close();
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it('starts without Redis when none answers, then falls back on every swap', async () => {
    const store = await RedisAnnouncedProducers.connect('redis://127.0.0.1:1', service, logger, {
      ttlMs: TTL_MS,
      connectTimeoutMs: 200,
    });
    try {
      const call = callId();
      expect((await store.swap(call, 'alice:audio', 'p1')).earlier).toBeUndefined();
      expect((await store.swap(call, 'alice:audio', 'p2')).earlier).toBe('p1');
    } finally {
      await store.close();
    }
  });
});

describe('InMemoryAnnouncedProducers', () => {
  it('swaps per call and key, forgets, and keeps at most its cap of calls', async () => {
    const store = new InMemoryAnnouncedProducers(3);
    expect((await store.swap('c1', 'alice:audio', 'p1')).earlier).toBeUndefined();
    expect((await store.swap('c1', 'alice:audio', 'p2')).earlier).toBe('p1');
    await store.forgetIf('c1', 'alice:audio', 'p1');
    expect((await store.swap('c1', 'alice:audio', 'p3')).earlier).toBe('p2');
    for (const c of ['c2', 'c3', 'c4']) await store.swap(c, 'alice:audio', 'x');
    expect(store.size()).toBe(3);
    // The oldest call went first.
    expect((await store.swap('c1', 'alice:audio', 'p4')).earlier).toBeUndefined();
    await store.forgetCall('c4');
    expect((await store.swap('c4', 'alice:audio', 'y')).earlier).toBeUndefined();
  });
});
