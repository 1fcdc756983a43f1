import { redisNamespace } from '@app/config';
import { createClient } from 'redis';
import type { Logger } from '@app/observability';
import { RedisConnections } from '@app/redis';

/** A swap's answer: the producer recorded before under its key, and every key the call has now. */
export interface Swapped {
  earlier?: string;
  keys: string[];
}

/**
 * The producer last announced per call and `userId:kind`. After a room moved
 * (`media:restart`), the old room and what its node knew of its producers are
 * gone: this is then the only record of the producer a new one replaces, so
 * the other participant can hear it closed. Participants may produce through
 * any process, so with Redis the record is shared by all of them.
 */
export interface AnnouncedProducerStore {
  /**
   * Records `producerId` as the latest under (call, key); answers the one recorded before and the
   * call's keys after it (who has produced what kind so far), in one step.
   */
  swap(callId: string, key: string, producerId: string): Promise<Swapped>;
  /** Forgets (call, key) only while it still names `producerId` (that one was already announced closed). */
  forgetIf(callId: string, key: string, producerId: string): Promise<void>;
  /** The call ended: nothing of it is needed any more. */
  forgetCall(callId: string): Promise<void>;
  close(): Promise<void>;
}

/** Calls remembered at most in memory (oldest dropped first: a miss only loses one `replaced` notice). */
export const MAX_REMEMBERED_CALLS = 20_000;

/** One process alone (no Redis), or a process's own fallback while Redis does not answer. */
export class InMemoryAnnouncedProducers implements AnnouncedProducerStore {
  private readonly calls = new Map<string, Map<string, string>>();

  constructor(private readonly maxCalls = MAX_REMEMBERED_CALLS) {}

  async swap(callId: string, key: string, producerId: string): Promise<Swapped> {
    let perCall = this.calls.get(callId);
    if (!perCall) {
      if (this.calls.size >= this.maxCalls) this.calls.delete(this.calls.keys().next().value!);
      perCall = new Map();
      this.calls.set(callId, perCall);
    }
    const earlier = perCall.get(key);
    perCall.set(key, producerId);
    return { earlier, keys: [...perCall.keys()] };
  }

  async forgetIf(callId: string, key: string, producerId: string): Promise<void> {
    const perCall = this.calls.get(callId);
    if (perCall?.get(key) === producerId) perCall.delete(key);
  }

  async forgetCall(callId: string): Promise<void> {
    this.calls.delete(callId);
  }

  size(): number {
    return this.calls.size;
  }

  async close(): Promise<void> {
    this.calls.clear();
  }
}

type RedisClient = ReturnType<typeof createClient>;

// HGET then HSET inside one script: two processes swapping at once each get a distinct earlier id.
// The hash's keys come back beside the earlier id (nil when there was none), saving the read that followed.
const SWAP_SCRIPT = `
local earlier = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {earlier, redis.call('HKEYS', KEYS[1])}`;

const FORGET_IF_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

export interface RedisAnnouncedProducersOptions {
  /** How long a call's hash outlives its last producer: longer than the longest call. */
  ttlMs: number;
  /** A Redis command not answered within this is given up (the process's own record answers). */
  commandTimeoutMs?: number;
  /** How long connect() waits for Redis before the process goes on without it (the client keeps trying). */
  connectTimeoutMs?: number;
}

/**
 * Shared through Redis: one hash per call, its fields `userId:kind`, expiring
 * `ttlMs` after the last producer (so a call whose end was never seen here is
 * cleaned up anyway) and deleted when the call ends. Every change is also kept
 * in this process's memory: when Redis fails or is slow, media:produce goes on
 * with what this process knows, and the failure is logged.
 */
export class RedisAnnouncedProducers implements AnnouncedProducerStore {
  private readonly local: InMemoryAnnouncedProducers;
  private readonly commandTimeoutMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly namespace: string,
    private readonly logger: Logger,
    private readonly options: RedisAnnouncedProducersOptions,
    local?: InMemoryAnnouncedProducers,
    private readonly ownsClient = false,
  ) {
    this.local = local ?? new InMemoryAnnouncedProducers();
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1_000;
  }

  /**
   * Connects its client: the process's 'announced-producers' connection
   * (closed by its owner), or one of its own for a URL (closed by close()).
   * Commands fail at once while Redis is away (no offline queue): a produce
   * never waits for Redis to come back.
   */
  static async connect(
    connections: RedisConnections | string,
    serviceKey: string,
    logger: Logger,
    options: RedisAnnouncedProducersOptions,
  ): Promise<RedisAnnouncedProducers> {
    const ownsClient = typeof connections === 'string';
    const owner = ownsClient ? new RedisConnections(connections, logger) : connections;
    const redis: RedisClient = owner.open('announced-producers', { clientOptions: { disableOfflineQueue: true } });
    redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error (announced producers)'));
    // A first connection keeps retrying while Redis is away: start without it rather than wait.
    let timer: NodeJS.Timeout | undefined;
    const connected = await Promise.race([
      redis.connect().then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), options.connectTimeoutMs ?? 5_000))),
    ]).finally(() => clearTimeout(timer));
    if (!connected) logger.warn('redis unreachable: replaced producers are known per process until it answers');
    return new RedisAnnouncedProducers(redis, redisNamespace('calls', serviceKey), logger, options, undefined, ownsClient);
  }

  async swap(callId: string, key: string, producerId: string): Promise<Swapped> {
    const known = await this.local.swap(callId, key, producerId);
    try {
      const [earlier, keys] = (await this.command(
        this.redis.eval(SWAP_SCRIPT, { keys: [this.keyOf(callId)], arguments: [key, producerId, String(this.options.ttlMs)] }),
      )) as [string | null, string[]];
      return { earlier: typeof earlier === 'string' ? earlier : undefined, keys };
    } catch (err) {
      this.logger.warn({ err, callId }, 'could not swap the announced producer in redis; using this process’s record');
      return known;
    }
  }

  async forgetIf(callId: string, key: string, producerId: string): Promise<void> {
    await this.local.forgetIf(callId, key, producerId);
    try {
      await this.command(this.redis.eval(FORGET_IF_SCRIPT, { keys: [this.keyOf(callId)], arguments: [key, producerId] }));
    } catch (err) {
      this.logger.warn({ err, callId }, 'could not forget an announced producer in redis');
    }
  }

  async forgetCall(callId: string): Promise<void> {
    await this.local.forgetCall(callId);
    try {
      await this.command(this.redis.del(this.keyOf(callId)));
    } catch (err) {
      // Its TTL removes it later.
      this.logger.warn({ err, callId }, 'could not delete an ended call’s producers in redis');
    }
  }

  async close(): Promise<void> {
    await this.local.close();
    // quit() waits for Redis to answer: a client still trying to connect, or not answered in time, is dropped.
    if (this.ownsClient) await this.command(this.redis.quit()).catch(() => this.redis.disconnect().catch(() => undefined));
  }

  /** The Redis key of a call's hash (exposed for tests). */
  keyOf(callId: string): string {
    return `${this.namespace}:producers:${callId}`;
  }

  private command<T>(pending: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs);
    });
    return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Provider token of the process's AnnouncedProducerStore. */
export const ANNOUNCED_PRODUCERS = Symbol('ANNOUNCED_PRODUCERS');
