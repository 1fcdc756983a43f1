import type { AppConfig } from '@app/config';
import { createTestDatabase, TestDatabase } from '../../../test/support/test-database';
import { DatabasePool } from './database-pool';

describe('DatabasePool.named', () => {
  let db: TestDatabase;
  let sql: DatabasePool;

  beforeAll(async () => {
    db = await createTestDatabase();
    // One connection, so every statement below runs on the connection that prepared the named one.
    const config = { databasePoolSize: 1, databaseAcquireTimeoutMs: 5_000, databaseStatementTimeoutMs: 0 } as AppConfig;
    sql = new DatabasePool({ url: db.url, embedded: false }, config);
  });

  afterAll(async () => {
    await sql.end();
    await db.drop();
  });

  it('prepares the statement once per connection and runs it with each call’s values', async () => {
    expect(await sql.named<{ n: number }>('plus_one', 'SELECT $1::int + 1 AS n', [1])).toEqual([{ n: 2 }]);
    expect(await sql.named<{ n: number }>('plus_one', 'SELECT $1::int + 1 AS n', [41])).toEqual([{ n: 42 }]);
    const prepared = await sql.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
    expect(prepared.map((p) => p.name)).toEqual(['plus_one']);
  });
});
