import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from '../../../test/support/test-database';
import { EditedMigrationError, migrate, readMigrations } from './migrator';

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('migrator', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it("applies every migration once, recorded in Prisma's format, even when two starts race", async () => {
    const [a, b] = await Promise.all([migrate(db.url), migrate(db.url)]);
    const all = readMigrations().map((m) => m.name);
    expect([...a, ...b].sort()).toEqual(all.sort());
    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      db.url,
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(all);
    expect(rows.map((r) => r.checksum)).toEqual(readMigrations().map((m) => m.checksum));
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
    expect(await migrate(db.url)).toEqual([]);
  });

  it('seeds the video_call flag switched off', async () => {
    await migrate(db.url);
    const flags = await query(db.url, `SELECT key, enabled, rollout_percent FROM feature_flags`);
    expect(flags).toContainEqual({ key: 'video_call', enabled: false, rollout_percent: 0 });
  });

  it('rolls a failing migration back whole and records nothing for it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
    fs.mkdirSync(path.join(dir, '001_ok'));
    fs.writeFileSync(path.join(dir, '001_ok', 'migration.sql'), 'CREATE TABLE ok_table (id int);');
    fs.mkdirSync(path.join(dir, '002_bad'));
    fs.writeFileSync(path.join(dir, '002_bad', 'migration.sql'), 'CREATE TABLE half_table (id int);\nSELECT * FROM no_such_table;');
    await expect(migrate(db.url, { dir })).rejects.toThrow(/002_bad failed/);
    const tables = await query<{ tablename: string }>(
      db.url,
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
    );
    expect(tables.map((t) => t.tablename)).toEqual(['_prisma_migrations', 'ok_table']);
    const names = await query<{ migration_name: string }>(db.url, 'SELECT migration_name FROM "_prisma_migrations"');
    expect(names).toEqual([{ migration_name: '001_ok' }]);
    fs.rmSync(dir, { recursive: true });
  });

  it('stops with a clear error when an applied migration was edited afterwards', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
    fs.mkdirSync(path.join(dir, '001_first'));
    fs.writeFileSync(path.join(dir, '001_first', 'migration.sql'), 'CREATE TABLE first_table (id int);');
    expect(await migrate(db.url, { dir })).toEqual(['001_first']);
    fs.writeFileSync(path.join(dir, '001_first', 'migration.sql'), 'CREATE TABLE first_table (id bigint);');
    fs.mkdirSync(path.join(dir, '002_second'));
    fs.writeFileSync(path.join(dir, '002_second', 'migration.sql'), 'CREATE TABLE second_table (id int);');
    const failure = migrate(db.url, { dir });
    await expect(failure).rejects.toThrow(EditedMigrationError);
    await expect(migrate(db.url, { dir })).rejects.toThrow(/migration 001_first was applied .* must not be edited/);
    // Nothing after it ran.
    const tables = await query<{ tablename: string }>(db.url, `SELECT tablename FROM pg_tables WHERE tablename = 'second_table'`);
    expect(tables).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});
