import crypto from 'node:crypto';
import { createClient, RedisClientOptions } from 'redis';
import type { Logger } from '@app/observability';

/** Every connection this process opens to Redis, by what it is for. */
export type RedisConnectionName =
  | 'adapter-pub'
  | 'adapter-sub'
  | 'socket-places'
  | 'rate-limits'
  | 'media-bus-pub'
  | 'media-bus-sub'
  | 'announced-producers'
  | 'revocations';

export type RedisClient = ReturnType<typeof createClient>;

export interface OpenOptions {
  /** A subscriber is closed before every publisher/command connection. */
  role?: 'commands' | 'subscriber';
  /**
   * Readiness says "not ready" while a required connection is down. Optional
   * ones degrade gracefully (each user falls back to per-process state).
   */
  required?: boolean;
  /** Passed to the client as is (CLIENT SETNAME, offline queue, scripts...). */
  clientOptions?: Omit<RedisClientOptions, 'url'>;
}

interface Entry {
  client: RedisClient;
  role: 'commands' | 'subscriber';
  required: boolean;
}

/**
 * The one owner of this process's Redis connections: opens each one under a
 * name, hands it out, tells readiness whether the required ones are up, and
 * closes them all in one order at shutdown (subscribers first, so nothing
 * arrives for a publisher that is already gone). Users connect the client
 * themselves (each has its own wait on a Redis that is away) and never quit it.
 */
export class RedisConnections {
  private readonly entries = new Map<string, Entry>();
  private closing?: Promise<void>;
  /**
   * Each connection is named `<tag>:<name>` in Redis (CLIENT SETNAME, again on
   * each reconnect; CLIENT LIST shows who holds what) unless its user names
   * it itself, as the media bus does.
   */
  readonly tag = `conn-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;

  constructor(
    /** Unset: no Redis; `enabled` is false and nothing may be opened. */
    readonly url: string | undefined,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.url !== undefined;
  }

  /** Creates the named connection (not yet connected). A name is opened once. */
  open(name: RedisConnectionName, options: OpenOptions = {}): RedisClient {
    if (!this.url) throw new Error(`redis connection "${name}" asked for without REDIS_URL`);
    if (this.entries.has(name)) throw new Error(`redis connection "${name}" is already open`);
    const client = createClient({ name: `${this.tag}:${name}`, ...options.clientOptions, url: this.url }) as RedisClient;
    return this.register(name, client, options);
  }

  /** A second connection with the first one's options (a subscriber beside its publisher), under its own name. */
  duplicate(of: RedisConnectionName, name: RedisConnectionName, options: OpenOptions = {}): RedisClient {
    const overrides = { name: `${this.tag}:${name}`, ...options.clientOptions };
    const client = this.connection(of).duplicate(overrides as Parameters<RedisClient['duplicate']>[0]) as RedisClient;
    return this.register(name, client, options);
  }

  /** The named connection, opened earlier. */
  connection(name: RedisConnectionName): RedisClient {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`redis connection "${name}" was never opened`);
    return entry.client;
  }

  /** Names of the connections opened, with whether each is ready now. */
  states(): Record<string, 'up' | 'down'> {
    const out: Record<string, 'up' | 'down'> = {};
    for (const [name, e] of this.entries) out[name] = e.client.isReady ? 'up' : 'down';
    return out;
  }

  /** For readiness: 'unused' without Redis, 'down' while a required connection is not ready. */
  state(): 'up' | 'down' | 'unused' {
    if (!this.enabled || this.entries.size === 0) return 'unused';
    for (const e of this.entries.values()) if (e.required && !e.client.isReady) return 'down';
    return 'up';
  }

  /**
   * Closes every connection: subscribers first, then the command
   * connections. Called once the users stopped (sockets closed, places given
   * back). Safe to call twice.
   */
  closeAll(): Promise<void> {
    return (this.closing ??= this.closeInOrder());
  }

  private async closeInOrder(): Promise<void> {
    const all = [...this.entries.values()];
    await Promise.all(all.filter((e) => e.role === 'subscriber').map((e) => stop(e.client)));
    await Promise.all(all.filter((e) => e.role === 'commands').map((e) => stop(e.client)));
  }

  private register(name: RedisConnectionName, client: RedisClient, options: OpenOptions): RedisClient {
    client.on('error', (err: Error) => this.logger.debug({ err: err.message, connection: name }, 'redis error'));
    this.entries.set(name, { client, role: options.role ?? 'commands', required: options.required ?? false });
    return client;
  }
}

/** QUIT waits for a connection; a client still trying to connect is just stopped. */
async function stop(client: RedisClient): Promise<void> {
  if (client.isReady) await client.quit().catch(() => undefined);
  else if (client.isOpen) await client.disconnect().catch(() => undefined);
}
