import { Inject, Injectable } from '@nestjs/common';
import { Pool, PoolClient, QueryResultRow } from 'pg';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DATABASE_CONNECTION, DatabaseConnection } from './database-connection';

/**
 * The process's one pool of PostgreSQL connections. Prisma's adapter, the
 * hand-written SQL of the send path and the scheduler (pg-boss) all run on
 * it, so a process holds at most DATABASE_POOL_SIZE connections plus the
 * one LISTEN connection, and several gateways fit a default PostgreSQL.
 *
 * Plain SQL is here for the hot paths: each Prisma query costs about 0.5 ms
 * of CPU in its client engine before it reaches the database, the same
 * statement through pg runs several times faster.
 */
@Injectable()
export class DatabasePool {
  readonly pool: Pool;
  private ended?: Promise<void>;

  constructor(@Inject(DATABASE_CONNECTION) connection: DatabaseConnection, @Inject(APP_CONFIG) config: AppConfig) {
    this.pool = new Pool({
      connectionString: connection.url,
      max: config.databasePoolSize,
      application_name: 'gateway',
      // A query that cannot get a connection in time fails (and its request with it) instead of queueing without end.
      connectionTimeoutMillis: config.databaseAcquireTimeoutMs,
      // PostgreSQL cancels a statement running longer: no single request holds a connection for long.
      ...(config.databaseStatementTimeoutMs > 0 ? { statement_timeout: config.databaseStatementTimeoutMs } : {}),
    });
    // An idle connection that breaks (database restart) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  async query<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const result = await this.pool.query<R>(text, values);
    return result.rows;
  }

  /**
   * `query` as a named prepared statement: each connection parses and plans
   * it once (PostgreSQL keeps a generic plan after a few runs) instead of
   * for every run, which for the hot paths' multi-step statements is most
   * of their time in the database. A name stands for one text only.
   */
  async named<R extends QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<R[]> {
    const result = await this.pool.query<R>({ name, text, values });
    return result.rows;
  }

  /** Runs `work` in one transaction on one connection; rolled back when it throws. */
  transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client, drop) => {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // A connection that cannot even roll back is dropped, not reused.
        await client.query('ROLLBACK').catch((rollbackErr: Error) => drop(rollbackErr));
        throw err;
      }
    });
  }

  /**
   * Runs `work` on one connection of its own (a transaction, or session
   * state such as an advisory lock). `drop` marks the connection as broken:
   * it is closed instead of handed out again.
   */
  async withClient<T>(work: (client: PoolClient, drop: (err: Error) => void) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const drop = (err: Error) => (broken = err);
    // While checked out the pool no longer listens for the connection's
    // errors; one dying between two statements must not crash the process.
    client.on('error', drop);
    try {
      return await work(client, drop);
    } finally {
      client.off('error', drop);
      client.release(broken);
    }
  }

  /** Connections held now: in use or idle, and callers waiting for one. */
  connections(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** Closes every connection; called once, after everything that queries has stopped. */
  end(): Promise<void> {
    this.ended ??= this.pool.end();
    return this.ended;
  }
}
