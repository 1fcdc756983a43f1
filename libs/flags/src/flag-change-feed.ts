import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Client } from 'pg';
import { DATABASE_CONNECTION, DatabaseConnection } from '@app/database';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { FLAG_CHANGE_CHANNEL } from './flag.repository';

export interface FlagChangeFeedListener {
  /** A committed change of one flag, from any gateway process sharing the database. */
  changed(key: string): void;
  /** The feed was (re)connected: notifications may have been missed, so reload everything. */
  resync(): void;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * Flag changes announced by any process sharing the database, received on a
 * dedicated connection that LISTENs (a pooled connection cannot: it is handed
 * to other queries). A lost connection is re-established with backoff.
 */
@Injectable()
export class FlagChangeFeed implements OnModuleDestroy {
  private client?: Client;
  private listener?: FlagChangeFeedListener;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private retryMs = RETRY_MIN_MS;
  private readonly logger: Logger;

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'flag-change-feed' });
  }

  /** Resolves once listening, so nothing committed afterwards is missed. */
  async start(listener: FlagChangeFeedListener): Promise<void> {
    this.listener = listener;
    await this.connect();
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
      if (msg.channel === FLAG_CHANGE_CHANNEL && msg.payload) this.listener?.changed(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${FLAG_CHANGE_CHANNEL}`);
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
    this.logger.warn({ err: err?.message }, 'flag change feed lost its connection; reconnecting');
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
          if (!this.stopped) {
            this.logger.info('flag change feed reconnected');
            this.listener?.resync();
          }
        },
        (err: Error) => {
          this.logger.warn({ err: err.message }, 'flag change feed reconnect failed');
          this.scheduleReconnect();
        },
      );
    }, delay);
  }
}
