import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, TEST_SERVER_URL, TestDatabase } from '../../../test/support/test-database';
import { migrate } from './migrator';
import { projectRoot } from './project-root';

/** What the comparison looks at: tables, columns, types, nullability, defaults, indexes, enums, keys. */
async function structure(url: string) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const columns = await c.query(`
      SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
             character_maximum_length, numeric_precision, datetime_precision
        FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
       ORDER BY table_name, column_name`);
    const indexes = await c.query(`
      SELECT tablename, indexname, indexdef FROM pg_indexes
       WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
       ORDER BY tablename, indexname`);
    const enums = await c.query(`
      SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
       ORDER BY t.typname, e.enumsortorder`);
    const constraints = await c.query(`
      SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         AND conrelid::regclass::text <> '_prisma_migrations'
       ORDER BY 1, 2`);
    return { columns: columns.rows, indexes: indexes.rows, enums: enums.rows, constraints: constraints.rows };
  } finally {
    await c.end();
  }
}

/** `/// @check <table> <name> CHECK (...)` lines of schema.prisma. */
function schemaChecks(schema: string): { table: string; name: string; definition: string }[] {
  return [...schema.matchAll(/^\/\/\/ @check (\w+) (\w+) (CHECK .+)$/gm)].map((m) => ({
    table: m[1],
    name: m[2],
    definition: m[3].trim(),
  }));
}

describe('schema.prisma and the SQL migrations', () => {
  let migrated: TestDatabase;
  let fromSchema: TestDatabase;

  beforeAll(async () => {
    [migrated, fromSchema] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  });
  afterAll(async () => {
    await Promise.all([migrated?.drop(), fromSchema?.drop()]);
  });

  it('give the same database: the migrations never drift from the schema', async () => {
    await migrate(migrated.url);

    const root = projectRoot();
    const sql = execFileSync(
      path.join(root, 'node_modules', '.bin', 'prisma'),
      ['migrate', 'diff', '--from-empty', '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
      { cwd: root, env: { ...process.env, DATABASE_URL: TEST_SERVER_URL }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const c = new Client({ connectionString: fromSchema.url });
    await c.connect();
    await c.query(sql);
    // CHECK constraints live in the migrations; schema.prisma names each one in an `@check` comment.
    for (const check of schemaChecks(readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8'))) {
      await c.query(`ALTER TABLE "${check.table}" ADD CONSTRAINT "${check.name}" ${check.definition}`);
    }
    await c.end();

    const [a, b] = await Promise.all([structure(migrated.url), structure(fromSchema.url)]);
    expect(a.columns.length).toBeGreaterThan(0);
    expect(a.columns).toEqual(b.columns);
    expect(a.indexes).toEqual(b.indexes);
    expect(a.enums).toEqual(b.enums);
    expect(a.constraints).toEqual(b.constraints);
  });
});
