import crypto from 'node:crypto';
import { createClient } from 'redis';
import { createRootLogger } from '@app/observability';
import { RedisConnections } from '@app/redis';
import { SocketPlaces, SocketPlacesOptions } from './socket-places';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());

/** Against the real Redis: several instances stand for several gateway processes. */
describe(SocketPlaces.name, () => {
  const logger = createRootLogger('silent');
  const opened: SocketPlaces[] = [];
  const connections: RedisConnections[] = [];
  // Each test is a service of its own, so no keys are shared between tests.
  let serviceKey: string;

  beforeEach(() => {
    serviceKey = `test:${crypto.randomUUID()}`;
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((p) => p.close()));
    await Promise.all(connections.splice(0).map((c) => c.closeAll()));
  });

  /** `redisUrl`: where this process's Redis is (undefined: none). */
  async function open(options: Partial<SocketPlacesOptions> & { redisUrl?: string } = {}, connectWaitMs?: number): Promise<SocketPlaces> {
    const { redisUrl, ...rest } = { redisUrl: REDIS_URL, ...options };
    const redis = new RedisConnections(redisUrl, logger);
    connections.push(redis);
    const places = new SocketPlaces({ cap: 10, redis, serviceKey, leaseMs: 60_000, logger, ...rest });
    opened.push(places);
    await places.start(connectWaitMs);
    return places;
  }

  it('grants exactly the cap to a concurrent burst spread over several processes', async () => {
    const processes = await Promise.all([open(), open(), open()]);
    const user = crypto.randomUUID();
    const outcomes = await Promise.all(ids(50).map((id, i) => processes[i % 3].reserve(user, id)));
    expect(outcomes.filter(Boolean)).toHaveLength(10);
    expect(processes.reduce((sum, p) => sum + p.heldBy(user), 0)).toBe(10);
    // Another user's cap is their own.
    expect(await processes[0].reserve(crypto.randomUUID(), crypto.randomUUID())).toBe(true);
  });

  it('a released place can be taken again, from any process; releasing twice frees one place', async () => {
    const [a, b] = await Promise.all([open({ cap: 2 }), open({ cap: 2 })]);
    const user = crypto.randomUUID();
    const [first, second, third] = ids(3);
    expect(await a.reserve(user, first)).toBe(true);
    expect(await b.reserve(user, second)).toBe(true);
    expect(await b.reserve(user, third)).toBe(false);
    await a.release(user, first);
    await a.release(user, first);
    expect(await b.reserve(user, third)).toBe(true);
    expect(await a.reserve(user, crypto.randomUUID())).toBe(false);
  });

  it('frees the places of a process that stops renewing after one lease; renewal keeps the live ones', async () => {
    const leaseMs = 1_000;
    const live = await open({ cap: 2, leaseMs });
    // A process that dies without a word: its renewals stop, nothing is released.
    const dying = await open({ cap: 2, leaseMs });
    const user = crypto.randomUUID();
    expect(await live.reserve(user, crypto.randomUUID())).toBe(true);
    expect(await dying.reserve(user, crypto.randomUUID())).toBe(true);
    expect(await live.reserve(user, crypto.randomUUID())).toBe(false);
    simulateCrash(dying);

    // Several leases later: the dead process's place is free, the live one's (renewed) is not.
    await sleep(leaseMs * 2.5);
    expect(await live.reserve(user, crypto.randomUUID())).toBe(true);
    expect(await live.reserve(user, crypto.randomUUID())).toBe(false);
  });

  it('leaves no key behind once every lease of a user ran out', async () => {
    const places = await open({ leaseMs: 300 });
    const user = crypto.randomUUID();
    expect(await places.reserve(user, crypto.randomUUID())).toBe(true);
    simulateCrash(places);
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      const keys = await redis.keys(`sockets:*:user:${user}`);
      expect(keys).toHaveLength(1);
      await sleep(600);
      expect(await redis.exists(keys[0])).toBe(0);
    } finally {
      await redis.quit();
    }
  });

  it('puts back a live place whose lease lapsed (Redis away too long) at the next renewal', async () => {
    const places = await open({ cap: 1, leaseMs: 60_000 });
    const user = crypto.randomUUID();
    expect(await places.reserve(user, crypto.randomUUID())).toBe(true);
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      const [key] = await redis.keys(`sockets:*:user:${user}`);
      await redis.del(key);
      const other = await open({ cap: 1 });
      await places.renew();
      expect(await other.reserve(user, crypto.randomUUID())).toBe(false);
    } finally {
      await redis.quit();
    }
  });

  it('without Redis counts this process exactly', async () => {
    const places = await open({ redisUrl: undefined, cap: 3 });
    const user = crypto.randomUUID();
    const place = ids(5);
    const outcomes = await Promise.all(place.map((id) => places.reserve(user, id)));
    expect(outcomes).toEqual([true, true, true, false, false]);
    await places.release(user, place[0]);
    expect(await places.reserve(user, place[3])).toBe(true);
  });

  it('with Redis unreachable counts this process only (fails open) instead of refusing everyone', async () => {
    const places = await open({ redisUrl: 'redis://127.0.0.1:1', cap: 2, answerTimeoutMs: 200 }, 100);
    const user = crypto.randomUUID();
    const outcomes = await Promise.all(ids(4).map((id) => places.reserve(user, id)));
    expect(outcomes.filter(Boolean)).toHaveLength(2);
  });
});

/** Stops renewing without giving anything back, as a SIGKILL would. */
function simulateCrash(places: SocketPlaces): void {
  const internals = places as unknown as { renewTimer?: NodeJS.Timeout; held: Map<string, Set<string>> };
  clearInterval(internals.renewTimer);
  internals.held.clear();
}
