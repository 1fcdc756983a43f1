import { loadConfig } from '@app/config';
import { DatabasePool, migrate, PrismaService } from '@app/database';
import { createTestDatabase, TestDatabase } from './test-database';

/**
 * A migrated database of its own with the pool and Prisma client that
 * repositories take, for specs of one repository's SQL against PostgreSQL.
 */
export interface RepositoryDatabase {
  db: TestDatabase;
  pool: DatabasePool;
  prisma: PrismaService;
  /** New users (fresh ids and handles). */
  createUsers(n: number): Promise<string[]>;
  /** Two new users who have each other as contacts. */
  createFriends(): Promise<[string, string]>;
  close(): Promise<void>;
}

export async function createRepositoryDatabase(): Promise<RepositoryDatabase> {
  const db = await createTestDatabase();
  await migrate(db.url);
  const config = loadConfig({ LOG_LEVEL: 'silent', DATABASE_URL: db.url, DATABASE_POOL_SIZE: '4' });
  const pool = new DatabasePool({ url: db.url, embedded: false }, config);
  const prisma = new PrismaService(pool);
  const createUsers = async (n: number): Promise<string[]> => {
    const rows = await pool.query<{ id: string }>(
      `INSERT INTO users (id, handle, display_name)
       SELECT gen_random_uuid(), 'u_' || substr(md5(random()::text), 1, 12), 'user' FROM generate_series(1, $1)
       RETURNING id`,
      [n],
    );
    return rows.map((r) => r.id);
  };
  return {
    db,
    pool,
    prisma,
    createUsers,
    async createFriends() {
      const [a, b] = await createUsers(2);
      await pool.query('INSERT INTO contacts (owner_id, contact_id) VALUES ($1, $2), ($2, $1)', [a, b]);
      return [a, b];
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
      await db.drop();
    },
  };
}

/** An append's result that stored the message or answered its resend; a refused send fails the test here. */
export function appended<T extends object>(result: T): Exclude<T, { refused: unknown }> {
  if ('refused' in result) throw new Error(`the send was refused (${String(result.refused)})`);
  return result as Exclude<T, { refused: unknown }>;
}
