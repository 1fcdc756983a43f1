import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Client } from 'pg';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { DATABASE_CONNECTION, DatabaseConnection } from './database-connection';

export interface NotificationHandler {
  /** A NOTIFY on the channel, from any process sharing the database. */
  message(payload: string): void;
  /** The connection was re-established: notifications may have been missed. */
  resync?(): void;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * PostgreSQL LISTEN for the whole process: one dedicated connection (a pooled
 * one cannot listen: it is handed to other queries) for every channel the
 * capabilities subscribe to. A lost connection is re-established with
 * backoff, every channel listened to again, and each handler told to resync.
 */
@Injectable()
export class DatabaseNotifications implements OnModuleDestroy {
  private client?: Client;
  private connecting?: Promise<void>;
  private readonly handlers = new Map<string, NotificationHandler[]>();
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private retryMs = RETRY_MIN_MS;
  private readonly logger: Logger;

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'db-notifications' });
  }

  /** Resolves once the channel is listened to, so nothing committed afterwards is missed. */
  async subscribe(channel: string, handler: NotificationHandler): Promise<void> {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`bad channel name ${channel}`);
    const known = this.handlers.get(channel);
    if (known) {
      known.push(handler);
      return;
    }
    this.handlers.set(channel, [handler]);
    if (!this.client) await (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
    else await this.client.query(`LISTEN ${channel}`);
  }

  /** Whether the LISTEN connection is open now. */
  isConnected(): boolean {
    return this.client !== undefined;
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.connection.url, keepAlive: true });
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      if (msg.payload === undefined) return;
      for (const h of this.handlers.get(msg.channel) ?? []) this.safely(() => h.message(msg.payload!), msg.channel);
    });
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
  }

  private lost(client: Client, err?: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    this.logger.warn({ err: err?.message }, 'notification connection lost; reconnecting');
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.connect().then(
        () => {
          if (this.stopped) return;
          this.logger.info('notification connection re-established');
          for (const [channel, handlers] of this.handlers) {
            for (const h of handlers) this.safely(() => h.resync?.(), channel);
          }
        },
        (err: Error) => {
          this.logger.warn({ err: err.message }, 'notification reconnect failed');
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private safely(fn: () => void, channel: string): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err, channel }, 'notification handler failed');
    }
  }
}
