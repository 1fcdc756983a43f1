import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';

/**
 * Token buckets keyed by user: `burst` tokens at most, refilled at
 * `perSecond`. Pure: time is passed in.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token: 0 when allowed, else the milliseconds until one is available. */
  take(key: string, nowMs: number): number {
    const bucket = this.refilled(key, nowMs);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.perSecond) * 1000);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, nowMs: number): { tokens: number; at: number } {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.dropFull(nowMs);
      bucket = { tokens: this.burst, at: nowMs };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, nowMs - bucket.at);
    bucket.tokens = Math.min(this.burst, bucket.tokens + (elapsed / 1000) * this.perSecond);
    bucket.at = nowMs;
    return bucket;
  }

  // A full bucket is the same as no bucket, so forgetting it loses nothing.
  private dropFull(nowMs: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
  }
}

/**
 * Limits dm:send per user (DM_RATE_PER_SEC, DM_RATE_BURST). Per process:
 * with several gateways a user's limit is per gateway they are connected to.
 * Uses the monotonic process clock, not the domain Clock, so tests that
 * move domain time do not refill buckets.
 */
@Injectable()
export class SendRateLimiter {
  private readonly buckets: TokenBuckets;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.buckets = new TokenBuckets(config.dmRate.perSecond, config.dmRate.burst);
  }

  /** 0 when the send may go ahead, else how long to wait. */
  retryAfterMs(userId: string): number {
    return this.buckets.take(userId, performance.now());
  }
}
