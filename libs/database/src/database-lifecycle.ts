import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { Clock } from '@app/config';
import { EMBEDDED_DATABASE } from './database.tokens';
import type { EmbeddedDatabase } from './embedded-postgres';
import { DATABASE_CONNECTION, DatabaseConnection } from './database-connection';
import { DatabasePool } from './database-pool';

/** How long a probe's answer is reused: health requests, however many, cost the database at most one connection this often. */
export const DATABASE_PROBE_INTERVAL_MS = 1000;

/** Health probe, and at shutdown the pool closed and the embedded server stopped (after every user stopped). */
@Injectable()
export class DatabaseLifecycle implements OnApplicationShutdown {
  private last?: { up: boolean; at: number };
  private probing?: Promise<boolean>;

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    @Inject(EMBEDDED_DATABASE) private readonly embedded: EmbeddedDatabase | null,
    private readonly pool: DatabasePool,
    private readonly clock: Clock,
  ) {}

  /**
   * Whether the database took a connection and answered, as found by the
   * latest probe: one probe at a time, at most one a second (callers that
   * ask meanwhile share its answer), so a flood of health requests is no
   * flood of connections.
   */
  isUp(): Promise<boolean> {
    if (this.last && this.clock.now().getTime() - this.last.at < DATABASE_PROBE_INTERVAL_MS) return Promise.resolve(this.last.up);
    this.probing ??= this.probe().then((up) => {
      this.last = { up, at: this.clock.now().getTime() };
      this.probing = undefined;
      return up;
    });
    return this.probing;
  }

  /**
   * True when a fresh connection can run a query within the timeout. A new
   * connection, not a pooled one: the question is whether the server takes
   * connections now, and a probe must not wait behind a busy pool.
   */
  private async probe(timeoutMs = 2000): Promise<boolean> {
    const client = new Client({
      connectionString: this.connection.url,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
    });
    // A database going down mid-probe answers "down", never an unhandled error event.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  // Runs after every module's onModuleDestroy: Prisma, the scheduler and the send path have stopped querying.
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    await this.embedded?.stop();
  }
}
