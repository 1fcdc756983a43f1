import { Client } from 'pg';

export interface DatabaseCounts {
  /** Connections to this database, other than the one counting. */
  connections: number;
  /** pg-boss jobs still to run (call timers and the like). */
  pendingTimers: number;
  /** pg-boss jobs in any state (finished ones are archived and deleted by pg-boss). */
  jobs: number;
}

export async function databaseCounts(dbUrl: string): Promise<DatabaseCounts> {
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  try {
    const name = new URL(dbUrl).pathname.slice(1);
    const connections = await pg.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    const timers = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active')`);
    const jobs = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM pgboss.job');
    return { connections: connections.rows[0].n, pendingTimers: timers.rows[0].n, jobs: jobs.rows[0].n };
  } finally {
    await pg.end();
  }
}
