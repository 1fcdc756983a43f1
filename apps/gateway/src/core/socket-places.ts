import { redisNamespace } from '@app/config';
import { createClient, defineScript } from 'redis';
import type { Logger } from '@app/observability';
import type { RedisConnections } from '@app/redis';

/*
 * A user's places live in one sorted set: member = place id, score = lease
 * expiry in Redis's own clock (TIME), so processes with skewed clocks agree.
 * The key itself expires with its latest lease, so a user nobody renews
 * leaves nothing behind.
 */
const NOW_AND_KEEP_KEY = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keepKeyUntilLastLease(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, math.ceil(tonumber(last[2])) + 1) end
end
`;

/** KEYS[1] the user's places; ARGV cap, place id, lease ms. 1: granted, 0: refused. */
const reservePlace = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: `${NOW_AND_KEEP_KEY}
local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
keepKeyUntilLastLease(KEYS[1])
return 1`,
  transformArguments: (key: string, cap: number, placeId: string, leaseMs: number) => [key, String(cap), placeId, String(leaseMs)],
  transformReply: (reply: number) => reply === 1,
});

/**
 * KEYS[1] the user's places; ARGV lease ms, then the place ids this process
 * holds. A place whose lease lapsed (Redis away longer than a lease) is put
 * back: the socket is still there and must be counted.
 */
const renewPlaces = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: `${NOW_AND_KEEP_KEY}
local expiry = nowMs() + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
keepKeyUntilLastLease(KEYS[1])
return #ARGV - 1`,
  transformArguments: (key: string, leaseMs: number, placeIds: string[]) => [key, String(leaseMs), ...placeIds],
  transformReply: (reply: number) => reply,
});

const PLACES_SCRIPTS = { reservePlace, renewPlaces };
type PlacesClient = ReturnType<typeof createClient<Record<string, never>, Record<string, never>, typeof PLACES_SCRIPTS>>;

function openPlacesClient(redis: RedisConnections): PlacesClient {
  // Without the offline queue a command fails at once while Redis is away, so a handshake is not held up.
  // Optional for readiness: the cap counts per process while Redis is away.
  const client = redis.open('socket-places', { clientOptions: { disableOfflineQueue: true, scripts: PLACES_SCRIPTS } });
  return client as unknown as PlacesClient;
}

export interface SocketPlacesOptions {
  /** Sockets one user may hold at once. */
  cap: number;
  /** The process's Redis connections; unset or without REDIS_URL: this process counts alone. */
  redis?: RedisConnections;
  /** Processes sharing it are one service and share the cap (it names the Redis keys). */
  serviceKey: string;
  /** A place not renewed for this long is free again. */
  leaseMs: number;
  /** Longest wait for Redis's answer to a reservation before counting this process alone. */
  answerTimeoutMs?: number;
  logger: Logger;
}

/**
 * Places under the per-user socket cap. With Redis one script counts and
 * takes a place atomically, so concurrent handshakes on any number of
 * processes never exceed the cap; each place is a lease the holding process
 * renews for all its places at once, so the places of a process that dies
 * are free again after one lease. Without Redis, or while it does not
 * answer, the count is this process's own (exact for this process).
 */
export class SocketPlaces {
  /** Places this process holds, by user: the local count, and what it renews (most users hold one: a string, not a Set). */
  private readonly held = new Map<string, string | Set<string>>();
  private readonly redis?: PlacesClient;
  private readonly namespace: string;
  private readonly answerTimeoutMs: number;
  private renewTimer?: NodeJS.Timeout;
  private renewing = false;
  private closed = false;
  /** Warn once when Redis stops answering, not once per handshake. */
  private degraded = false;

  constructor(private readonly options: SocketPlacesOptions) {
    this.namespace = redisNamespace('sockets', options.serviceKey);
    this.answerTimeoutMs = options.answerTimeoutMs ?? 1_000;
    if (options.redis?.enabled) this.redis = openPlacesClient(options.redis);
  }

  /** Connects (waiting at most a short while: until then handshakes are counted per process) and starts renewing. */
  async start(connectWaitMs = 2_000): Promise<void> {
    if (!this.redis) return;
    const connected = this.redis.connect().then(
      () => true,
      () => false,
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), connectWaitMs)));
    if (!(await Promise.race([connected, waited]))) this.fallBack('redis unreachable at start');
    clearTimeout(timer);
    // Three renewals per lease: one late or lost renewal does not free a live socket's place.
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
  }

  /** Takes a place for the user, or returns false when the user already holds `cap`. */
  async reserve(userId: string, placeId: string): Promise<boolean> {
    if (!this.redis || this.closed) return this.reserveHere(userId, placeId);
    let granted: boolean;
    try {
      granted = await this.withTimeout(this.redis.reservePlace(this.key(userId), this.options.cap, placeId, this.options.leaseMs));
    } catch (err) {
      this.fallBack('reserving a socket place in redis failed', err);
      const here = this.reserveHere(userId, placeId);
      // The script may still run later; a refused place must not linger there for a lease.
      if (!here) void this.forget(userId, [placeId]);
      return here;
    }
    this.recovered();
    if (granted) this.hold(userId, placeId);
    return granted;
  }

  /** Gives the place back (safe to call twice, and for a place never granted). */
  async release(userId: string, placeId: string): Promise<void> {
    const places = this.held.get(userId);
    if (places === placeId) this.held.delete(userId);
    else if (typeof places === 'object' && places.delete(placeId)) {
      if (places.size === 1) this.held.set(userId, places.values().next().value as string);
    } else return;
    if (this.redis && !this.closed) await this.forget(userId, [placeId]);
  }

  /** Places this process holds for the user. */
  heldBy(userId: string): number {
    const places = this.held.get(userId);
    return places === undefined ? 0 : typeof places === 'string' ? 1 : places.size;
  }

  /** One pipelined round trip renews every place this process holds. */
  async renew(): Promise<void> {
    if (!this.redis?.isReady || this.renewing || this.held.size === 0) return;
    this.renewing = true;
    try {
      const pipeline = this.redis.multi();
      for (const [userId, places] of this.held) pipeline.renewPlaces(this.key(userId), this.options.leaseMs, placeList(places));
      await pipeline.execAsPipeline();
      this.recovered();
    } catch (err) {
      this.fallBack('renewing socket places failed', err);
    } finally {
      this.renewing = false;
    }
  }

  /** Stops renewing and gives back every place still held (the sockets are closing with the process); the connection's owner closes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    if (!this.redis) return;
    if (this.redis.isReady && this.held.size > 0) {
      const pipeline = this.redis.multi();
      for (const [userId, places] of this.held) pipeline.zRem(this.key(userId), placeList(places));
      await pipeline.execAsPipeline().catch(() => undefined);
    }
  }

  private reserveHere(userId: string, placeId: string): boolean {
    if (this.heldBy(userId) >= this.options.cap) return false;
    this.hold(userId, placeId);
    return true;
  }

  private hold(userId: string, placeId: string): void {
    const places = this.held.get(userId);
    if (places === undefined) this.held.set(userId, placeId);
    else if (typeof places === 'string') this.held.set(userId, new Set([places, placeId]));
    else places.add(placeId);
  }

  /** Best effort: a place left behind expires with its lease. */
  private async forget(userId: string, placeIds: string[]): Promise<void> {
    try {
      await this.withTimeout(this.redis!.zRem(this.key(userId), placeIds));
    } catch (err) {
      this.fallBack('giving a socket place back in redis failed', err);
    }
  }

  private key(userId: string): string {
    return `${this.namespace}:user:${userId}`;
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${this.answerTimeoutMs} ms`)), this.answerTimeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  private fallBack(what: string, err?: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.options.logger.warn(
      { err: err instanceof Error ? err.message : err },
      `${what}: the socket cap counts this process's sockets only until redis answers`,
    );
  }

  private recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.options.logger.info('redis answers again: the socket cap counts every process');
  }
}

function placeList(places: string | Set<string>): string[] {
  return typeof places === 'string' ? [places] : [...places];
}
