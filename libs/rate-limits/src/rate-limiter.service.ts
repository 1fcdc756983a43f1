import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RedisClient, RedisConnections } from '@app/redis';
import { DEFAULT_EVENT_RULE, RateRule, rateRules } from './event-rate-rules';

type Limiter = { consume(key: string): Promise<unknown> };

const KEY_PREFIX = 'rl';

/**
 * Per-key limits (rate-limiter-flexible). With REDIS_URL the counters live in
 * Redis, so a user's limit holds across every gateway process; each Redis
 * limiter falls back to an in-memory one of its own while Redis is away.
 * Without Redis the counters are this process's.
 */
@Injectable()
export class RateLimiterService implements OnModuleInit {
  private readonly limiters = new Map<string, Limiter>();
  private redis?: RedisClient;
  private readonly logger: Logger;
  private readonly limited;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    // Absent where a process is built without the Redis owner (then counters are per process).
    @Optional() private readonly connections?: RedisConnections,
  ) {
    this.logger = rootLogger.child({ component: 'rate-limits' });
    this.limited = metrics.counter('rate_limited_total', 'requests refused by a rate limit, by rule', ['rule']);
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

  /** Counts one use of `rule` by `key`; RATE_LIMITED with details.retryAfterMs when over the limit. */
  async consume(rule: string, key: string): Promise<void> {
    const limiter = this.limiters.get(rule) ?? this.limiters.get(DEFAULT_EVENT_RULE)!;
    try {
      await limiter.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      this.limited.inc({ rule });
      throw new DomainError('RATE_LIMITED', `too many ${rule} requests; slow down`, {
        retryAfterMs: Math.max(1, Math.ceil(res.msBeforeNext)),
      });
    }
  }

  /** A rule with a burst: its steady rate first, then the burst allowance (rate-limiter-flexible's BurstyRateLimiter). */
  private build(name: string, rule: RateRule): Limiter {
    const steady = this.window(name, rule.points, rule.durationS);
    if (!rule.burst) return steady;
    return new BurstyRateLimiter(steady, this.window(`${name}:burst`, rule.burst.points, rule.burst.durationS));
  }

  private window(name: string, points: number, durationS: number): RateLimiterMemory | RateLimiterRedis {
    const keyPrefix = `${KEY_PREFIX}:${name}`;
    const memory = new RateLimiterMemory({ keyPrefix, points, duration: durationS });
    if (!this.redis) return memory;
    return new RateLimiterRedis({
      storeClient: this.redis,
      useRedisPackage: true,
      keyPrefix,
      points,
      duration: durationS,
      insuranceLimiter: memory,
    });
  }
}
