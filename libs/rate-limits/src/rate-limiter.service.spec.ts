import crypto from 'node:crypto';
import { createClient } from 'redis';
import type { AppConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { createRootLogger, MetricsService } from '@app/observability';
import { RedisClient, RedisConnections } from '@app/redis';
import { RedisGate } from '../../../test/support/redis-gate';
import { RateLimiterService } from './rate-limiter.service';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RULE = 'call:invite';
const POINTS = 10;
const config = { dmRate: { perSecond: 50, burst: 100 }, eventRateScale: 1 } as AppConfig;

async function refusal(consumed: Promise<void>): Promise<DomainError | undefined> {
  try {
    await consumed;
    return undefined;
  } catch (err) {
    return err as DomainError;
  }
}

/** Against the real Redis: two services stand for two gateway processes. */
describe(RateLimiterService.name, () => {
  const logger = createRootLogger('silent');
  const connections: RedisConnections[] = [];
  const redis = createClient({ url: REDIS_URL });
  let user: string;

  beforeAll(() => redis.connect());
  afterAll(() => redis.quit());
  beforeEach(() => {
    user = crypto.randomUUID();
  });
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((c) => c.closeAll()));
  });

  async function gatewayProcess(url = REDIS_URL): Promise<RateLimiterService> {
    return (await gatewayProcessAndClient(url)).limits;
  }

  /** A process's limits and the Redis client they count with. */
  async function gatewayProcessAndClient(url = REDIS_URL): Promise<{ limits: RateLimiterService; client: RedisClient }> {
    const redisOfProcess = new RedisConnections(url, logger);
    connections.push(redisOfProcess);
    let client: RedisClient | undefined;
    const open = redisOfProcess.open.bind(redisOfProcess);
    jest.spyOn(redisOfProcess, 'open').mockImplementation((...args) => (client = open(...args)));
    const limits = new RateLimiterService(config, logger, new MetricsService({ prefix: '' }), redisOfProcess);
    await limits.onModuleInit();
    return { limits, client: client! };
  }

  const countInRedis = async () => Number((await redis.get(`rl:${RULE}:${user}`)) ?? 0);

  async function waitForCount(count: number): Promise<void> {
    for (let i = 0; i < 200 && (await countInRedis()) < count; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await countInRedis()).toBe(count);
  }

  it("counts a user's uses in Redis, so every process refuses past the limit", async () => {
    const [a, b] = await Promise.all([gatewayProcess(), gatewayProcess()]);
    for (let i = 0; i < POINTS; i++) await (i % 2 ? a : b).consume(RULE, user);
    expect(await countInRedis()).toBe(POINTS);
    const refused = await refusal(b.consume(RULE, user));
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
  });

  it('decides for a user held here alone without waiting for Redis, and counts the use there after', async () => {
    const gate = await RedisGate.start(REDIS_URL);
    const limits = await gatewayProcess(gate.url);
    try {
      gate.holdTraffic();
      const outcome = await Promise.race([
        limits.consume(RULE, user, true).then(() => 'decided'),
        new Promise((resolve) => setTimeout(resolve, 2_000, 'waited for Redis')),
      ]);
      expect(outcome).toBe('decided');
      // The same request not held alone waits for Redis's answer.
      const shared = limits.consume(RULE, user).then(() => 'decided');
      expect(await Promise.race([shared, new Promise((resolve) => setTimeout(resolve, 200, 'waiting'))])).toBe('waiting');
      expect(await countInRedis()).toBe(0);
      gate.releaseTraffic();
      expect(await shared).toBe('decided');
      await waitForCount(2);
    } finally {
      gate.releaseTraffic();
      // Its connection first: a client whose hop is gone keeps reconnecting.
      await Promise.all(connections.splice(0).map((c) => c.closeAll()));
      await gate.close();
    }
  });

  it('counts the uses of a user held here alone within the delay with one Redis command, later ones with the next', async () => {
    const { limits, client } = await gatewayProcessAndClient();
    // Longer than the test: the counts go when it says (as at shutdown), not when a timer fires.
    limits.redisCountDelayMs = 60_000;
    const scripts = jest.spyOn(client, 'eval');
    for (let turn = 0; turn < 3; turn++) {
      await Promise.all(Array.from({ length: 2 }, () => limits.consume(RULE, user, true)));
      await new Promise((r) => setImmediate(r));
    }
    limits.onApplicationShutdown();
    await waitForCount(6);
    expect(scripts).toHaveBeenCalledTimes(1);
    await limits.consume(RULE, user, true);
    limits.onApplicationShutdown();
    await waitForCount(7);
    expect(scripts).toHaveBeenCalledTimes(2);
  });

  it('counts the uses still waiting when the process shuts down, without waiting out the delay', async () => {
    const { limits } = await gatewayProcessAndClient();
    limits.redisCountDelayMs = 60_000;
    await limits.consume(RULE, user, true);
    await new Promise((r) => setTimeout(r, 100));
    expect(await countInRedis()).toBe(0);
    limits.onApplicationShutdown();
    await waitForCount(1);
  });

  it("refuses a user held here alone at the rule's limit, and another process then refuses too", async () => {
    const [here, elsewhere] = await Promise.all([gatewayProcess(), gatewayProcess()]);
    for (let i = 0; i < POINTS; i++) await here.consume(RULE, user, true);
    expect(await refusal(here.consume(RULE, user, true))).toMatchObject({ code: 'RATE_LIMITED' });
    // The user connects elsewhere later: the uses decided here were counted in Redis.
    await waitForCount(POINTS);
    expect(await refusal(elsewhere.consume(RULE, user))).toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('refuses a user held here alone once Redis shows uses counted elsewhere earlier in the window', async () => {
    const [here, elsewhere] = await Promise.all([gatewayProcess(), gatewayProcess()]);
    for (let i = 0; i < POINTS; i++) await elsewhere.consume(RULE, user);
    // This process has counted nothing for the user: its first use is decided here, and Redis refuses its count.
    await here.consume(RULE, user, true);
    await waitForCount(POINTS + 1);
    let refused: DomainError | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await refusal(here.consume(RULE, user, true));
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
    expect(refused!.details!.retryAfterMs as number).toBeLessThanOrEqual(1_000);
  });

  it('keeps both windows of a rule with a burst for a user held here alone', async () => {
    const limits = await gatewayProcess();
    // dm:send: 50 a second and 50 more as a burst.
    const outcomes = await Promise.all(Array.from({ length: 101 }, () => refusal(limits.consume('dm:send', user, true))));
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(100);
    expect(outcomes[100]).toMatchObject({ code: 'RATE_LIMITED' });
  });
});
