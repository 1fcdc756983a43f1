import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { ADVISORY_LOCKS, withAdvisoryLock } from './advisory-lock';
import { projectRoot } from './project-root';

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function migrationsDir(): string {
  return path.join(projectRoot(), 'prisma', 'migrations');
}

export function readMigrations(dir = migrationsDir()): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: crypto.createHash('sha256').update(sql).digest('hex') };
    });
}

/** An applied migration whose file changed since: start-up stops until the file is put back (or a new migration made). */
export class EditedMigrationError extends Error {
  constructor(
    readonly migration: string,
    readonly appliedChecksum: string,
    readonly fileChecksum: string,
  ) {
    super(
      `migration ${migration} was applied with checksum ${appliedChecksum.slice(0, 12)}… but its migration.sql now has ` +
        `${fileChecksum.slice(0, 12)}…: an applied migration must not be edited. Restore the file as it was ` +
        `(git history) and put the change in a new migration.`,
    );
    this.name = 'EditedMigrationError';
  }
}

/**
 * Applies the SQL migrations under prisma/migrations that the database has
 * not seen. Prisma's own `migrate deploy` cannot run on the JavaScript schema
 * engine, so this does its job: one transaction per migration, an advisory
 * lock against concurrent starts, and bookkeeping in `_prisma_migrations`
 * in Prisma's format so Prisma's tools agree about what is applied.
 */
export async function migrate(databaseUrl: string, options: { logger?: Logger; dir?: string } = {}): Promise<string[]> {
  const { logger, dir } = options;
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    // All gateways starting at once queue on this lock, so a migration is applied by exactly one of them.
    await withAdvisoryLock(client, ADVISORY_LOCKS.migrations, async () => {
      await client.query(`
        CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
          "id" VARCHAR(36) PRIMARY KEY NOT NULL,
          "checksum" VARCHAR(64) NOT NULL,
          "finished_at" TIMESTAMPTZ,
          "migration_name" VARCHAR(255) NOT NULL,
          "logs" TEXT,
          "rolled_back_at" TIMESTAMPTZ,
          "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
          "applied_steps_count" INTEGER NOT NULL DEFAULT 0
        )`);
      const done = await client.query<{ migration_name: string; checksum: string }>(
        `SELECT migration_name, checksum FROM "_prisma_migrations"
          WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      const doneByName = new Map(done.rows.map((r) => [r.migration_name, r.checksum]));
      for (const m of readMigrations(dir)) {
        const known = doneByName.get(m.name);
        if (known !== undefined) {
          // The database holds what the file said when it was applied: starting on an edited one would run code against a schema it does not describe.
          if (known !== m.checksum) throw new EditedMigrationError(m.name, known, m.checksum);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            `INSERT INTO "_prisma_migrations"
               (id, checksum, finished_at, migration_name, applied_steps_count)
             VALUES ($1, $2, now(), $3, 1)`,
            [crypto.randomUUID(), m.checksum, m.name],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
        }
        applied.push(m.name);
        logger?.info({ migration: m.name }, 'migration applied');
      }
    });
  } finally {
    await client.end();
  }
  return applied;
}
