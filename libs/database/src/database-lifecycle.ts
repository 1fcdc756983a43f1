import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { EMBEDDED_DATABASE } from './database.tokens';
import type { EmbeddedDatabase } from './embedded-postgres';
import { DATABASE_CONNECTION, DatabaseConnection } from './database-connection';

/** Health probe and the embedded server's stop at shutdown (after every client closed). */
@Injectable()
export class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    @Inject(EMBEDDED_DATABASE) private readonly embedded: EmbeddedDatabase | null,
  ) {}

  /** True when a fresh connection can run a query within the timeout. */
  async isUp(timeoutMs = 2000): Promise<boolean> {
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

  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.stop();
  }
}
