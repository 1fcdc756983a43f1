import { Inject, Injectable, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { CounterSeries, Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RedisClient, RedisConnections } from '@app/redis';
import { DEFAULT_EVENT_RULE, RateRule, rateRules } from './event-rate-rules';

type Limiter = { consume(key: string, points?: number): Promise<unknown> };

/** A rule's limiter, and with Redis a copy of it counted in this process (see consume's `heldHereAlone`). */
interface RuleLimiters {
  shared: Limiter;
  local?: { limiter: Limiter; windows: RateLimiterMemory[] };
}

const KEY_PREFIX = 'rl';

/**
 * How long uses decided here wait before they are counted in Redis. Every use
 * in that time goes in one write (one script run per key), where counting
 * each request's turn on its own took a Redis round trip per request: three
 * per call set-up. A process taking a user over later than this reads them.
 */
export const REDIS_COUNT_DELAY_MS = 50;

/**
 * Per-key limits (rate-limiter-flexible). With REDIS_URL the counters live in
 * Redis, so a user's limit holds across every gateway process; each Redis
 * limiter falls back to an in-memory one of its own while Redis is away.
 * Without Redis the counters are this process's.
 *
 * A key whose every request comes through this process (a user whose sockets
 * are all here) is decided here without waiting for Redis; the use is still
 * counted in Redis (within REDIS_COUNT_DELAY_MS, a key's uses as one count),
 * where a process that takes the user over reads it.
 */
@Injectable()
export class RateLimiterService implements OnModuleInit, OnApplicationShutdown {
  /** REDIS_COUNT_DELAY_MS; a spec may set another. */
  redisCountDelayMs = REDIS_COUNT_DELAY_MS;
  private readonly limiters = new Map<string, RuleLimiters>();
  private redis?: RedisClient;
  private readonly logger: Logger;
  private readonly limited;
  private readonly decidedHere;
  /** decidedHere's series by rule, made on first use (rules are a fixed set). */
  private readonly decidedHereByRule = new Map<string, CounterSeries>();
  /** Uses decided here, not yet counted in Redis: points by key, per rule. */
  private uncounted = new Map<RuleLimiters, Map<string, number>>();
  private countTimer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly metrics: MetricsService,
    // Absent where a process is built without the Redis owner (then counters are per process).
    @Optional() private readonly connections?: RedisConnections,
  ) {
    this.logger = rootLogger.child({ component: 'rate-limits' });
    this.limited = metrics.counter('rate_limited_total', 'requests refused by a rate limit, by rule', ['rule']);
    this.decidedHere = metrics.counter(
      'rate_limit_decided_here_total',
      'uses of a rate limit decided by this process for a user held here alone (counted in Redis after), by rule',
      ['rule'],
    );
  }

  async onModuleInit(): Promise<void> {
    if (this.connections?.enabled) {
      // Optional for readiness: each limiter falls back to memory while Redis is away.
      const redis = this.connections.open('rate-limits');
      this.redis = redis;
      try {
        await redis.connect();
      } catch (err) {
        this.logger.warn({ err }, 'redis unreachable: rate limits are per process until it answers');
      }
    }
    for (const [name, rule] of Object.entries(rateRules(this.config))) this.limiters.set(name, this.build(name, rule));
  }

  /** Uses still waiting are counted now (the Redis connection is closed after the application). */
  onApplicationShutdown(): void {
    this.countUncountedInRedis();
  }

  /**
   * Counts one use of `rule` by `key`; RATE_LIMITED with details.retryAfterMs when over the limit.
   *
   * `heldHereAlone`: every request of `key` comes through this process for now (its user has no
   * socket on another gateway process). The use is then decided by this process's copy of the
   * rule and counted in Redis after, without waiting for Redis: a set-up's three requests would
   * each wait a Redis round trip otherwise. Uses counted in Redis beforehand (the user was held
   * elsewhere earlier in the window) show as Redis refusing that count; the key is then refused
   * here too for the rest of Redis's window.
   */
  async consume(rule: string, key: string, heldHereAlone = false): Promise<void> {
    // The rule applied (event names are the client's to choose): what decidedHere is labelled with.
    const applied = this.limiters.has(rule) ? rule : DEFAULT_EVENT_RULE;
    const limiters = this.limiters.get(applied)!;
    const local = heldHereAlone ? limiters.local : undefined;
    try {
      if (!local) {
        await limiters.shared.consume(key);
        return;
      }
      this.countDecidedHere(applied);
      await local.limiter.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      this.limited.inc({ rule });
      throw new DomainError('RATE_LIMITED', `too many ${rule} requests; slow down`, {
        retryAfterMs: Math.max(1, Math.ceil(res.msBeforeNext)),
      });
    }
    this.countInRedisSoon(limiters, key);
  }

  /**
   * The uses of a key decided here within REDIS_COUNT_DELAY_MS go to Redis
   * as one count, and every key's count in one write, so a process that
   * takes the user over next reads them.
   */
  private countInRedisSoon(limiters: RuleLimiters, key: string): void {
    if (this.uncounted.size === 0) this.countTimer = setTimeout(() => this.countUncountedInRedis(), this.redisCountDelayMs).unref();
    let byKey = this.uncounted.get(limiters);
    if (!byKey) {
      byKey = new Map();
      this.uncounted.set(limiters, byKey);
    }
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  }

  private countUncountedInRedis(): void {
    clearTimeout(this.countTimer);
    const uncounted = this.uncounted;
    this.uncounted = new Map();
    for (const [{ shared, local }, byKey] of uncounted) {
      for (const [key, points] of byKey) {
        shared.consume(key, points).catch((res: unknown) => {
          if (!(res instanceof RateLimiterRes)) return;
          // At least a millisecond: a block of no duration would never expire.
          const seconds = Math.max(1, res.msBeforeNext) / 1000;
          for (const window of local!.windows) void window.block(key, seconds);
        });
      }
    }
  }

  private countDecidedHere(rule: string): void {
    let series = this.decidedHereByRule.get(rule);
    if (!series) {
      series = this.metrics.counterSeries(this.decidedHere, { rule });
      this.decidedHereByRule.set(rule, series);
    }
    series.inc();
  }

  private build(name: string, rule: RateRule): RuleLimiters {
    const memory = () => this.windows(name, rule, (keyPrefix, points, duration) => new RateLimiterMemory({ keyPrefix, points, duration }));
    const redis = this.redis;
    if (!redis) return { shared: withBurst(memory()) };
    const local = memory();
    const shared = this.windows(
      name,
      rule,
      (keyPrefix, points, duration) =>
        new RateLimiterRedis({
          storeClient: redis,
          useRedisPackage: true,
          keyPrefix,
          points,
          duration,
          // While Redis is away.
          insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
        }),
    );
    return { shared: withBurst(shared), local: { limiter: withBurst(local), windows: local } };
  }

  /** The rule's steady window, then its burst window if it has one. */
  private windows<T extends RateLimiterMemory | RateLimiterRedis>(
    name: string,
    rule: RateRule,
    make: (keyPrefix: string, points: number, durationS: number) => T,
  ): T[] {
    const steady = make(`${KEY_PREFIX}:${name}`, rule.points, rule.durationS);
    return rule.burst ? [steady, make(`${KEY_PREFIX}:${name}:burst`, rule.burst.points, rule.burst.durationS)] : [steady];
  }
}

/** A steady window alone, or its steady rate first and then the burst allowance (rate-limiter-flexible's BurstyRateLimiter). */
function withBurst([steady, burst]: (RateLimiterMemory | RateLimiterRedis)[]): Limiter {
  return burst ? new BurstyRateLimiter(steady, burst) : steady;
}
