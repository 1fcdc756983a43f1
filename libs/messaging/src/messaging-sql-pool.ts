import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Pool, PoolClient, QueryResultRow } from 'pg';
import { DATABASE_CONNECTION, DatabaseConnection } from '@app/database';

// Enough for the conversations that append at once: each append holds its
// connection for one statement and its commit.
const POOL_SIZE = 10;

/**
 * Plain pg connections for the message send path, used only by the
 * messaging repositories. Each Prisma query costs about 0.5 ms of CPU in its
 * client engine before it reaches the database (a `SELECT 1` tops out near
 * 1.2–2k/s per process), which caps a send that needs a few queries at a few
 * hundred per second; the same statement through pg runs several times
 * faster. Everything off the send path stays on Prisma.
 */
@Injectable()
export class MessagingSqlPool implements OnModuleDestroy {
  private readonly pool: Pool;

  constructor(@Inject(DATABASE_CONNECTION) connection: DatabaseConnection) {
    this.pool = new Pool({ connectionString: connection.url, max: POOL_SIZE });
    // An idle connection that breaks (database restart) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  async query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    const result = await this.pool.query<R>(text, values);
    return result.rows;
  }

  /** Runs `work` in one transaction on one connection; rolled back when it throws. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // While checked out the pool no longer listens for the connection's
    // errors; one dying between two statements must not crash the process.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that cannot even roll back is dropped, not reused.
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }
}
