import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { round } from '../support/latency-samples';
import { machineCpuOver, MachineCpuUse, sampleMachineCpu } from '../support/machine-usage';

const run = promisify(execFile);

export interface InsertRateResult {
  tool: 'pgbench' | 'node-pg';
  clients: number;
  seconds: number;
  /** Single-row INSERTs of a message row, each its own transaction. */
  insertsPerSec: number;
  /** The shape a persisted DM needs at least: take the next seq on the conversation row, insert, commit. */
  seqTransactionsPerSec: number;
  /**
   * The machine while the inserts ran, per insert: PostgreSQL's CPU, and
   * whether other programs shared the cores (which lowers the ceiling and
   * so raises every ratio read against it). Absent from results written
   * before it was read.
   */
  machine?: MachineCpuUse;
}

/**
 * The database's own rate for the rows a DM stores, measured on a database
 * that already has the project's schema (migrated by the gateway). pgbench
 * when installed, otherwise the same loop from Node.
 */
export async function measureInsertRate(databaseUrl: string, clients: number, seconds: number): Promise<InsertRateResult> {
  await prepareLanes(databaseUrl, clients);
  const body = 'x'.repeat(64);
  const insertSql =
    `INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, body) ` +
    `SELECT gen_random_uuid(), l.conversation_id, nextval('bench_seq'), l.sender_id, l.recipient_id, gen_random_uuid(), '${body}' ` +
    `FROM bench_lanes l WHERE l.n = :client_id;`;
  const seqSql = [
    'BEGIN;',
    `UPDATE conversations c SET last_seq = last_seq + 1, last_message_at = now() FROM bench_lanes l WHERE l.n = :client_id AND c.id = l.conversation_id;`,
    `INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, body) ` +
      `SELECT gen_random_uuid(), c.id, c.last_seq, l.sender_id, l.recipient_id, gen_random_uuid(), '${body}' ` +
      `FROM bench_lanes l JOIN conversations c ON c.id = l.conversation_id WHERE l.n = :client_id;`,
    'COMMIT;',
  ].join('\n');
  const toNode = (sql: string) => sql.replace(/:client_id/g, '$1');
  const usePgbench = await hasPgbench();
  const measure = (sql: string) =>
    usePgbench ? pgbench(databaseUrl, sql, clients, seconds) : nodeLoop(databaseUrl, toNode(sql).split('\n'), clients, seconds);
  const machineBefore = sampleMachineCpu();
  const insertsPerSec = await measure(insertSql);
  const machine = machineCpuOver(machineBefore, sampleMachineCpu(), insertsPerSec * seconds);
  // Fresh conversations: their seq starts again at 1.
  await prepareLanes(databaseUrl, clients);
  const seqTransactionsPerSec = await measure(seqSql);
  return { tool: usePgbench ? 'pgbench' : 'node-pg', clients, seconds, insertsPerSec, seqTransactionsPerSec, machine };
}

/** One conversation between two fresh users per client, so clients do not contend on a row. */
let lanesMade = 0;
async function prepareLanes(databaseUrl: string, clients: number): Promise<void> {
  lanesMade++;
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(`CREATE SEQUENCE IF NOT EXISTS bench_seq`);
    await c.query(`CREATE TABLE IF NOT EXISTS bench_lanes (n int PRIMARY KEY, conversation_id uuid, sender_id uuid, recipient_id uuid)`);
    await c.query(`TRUNCATE bench_lanes`);
    for (let n = 0; n < clients; n++) {
      const users = await c.query<{ id: string }>(
        `INSERT INTO users (id, handle, display_name) VALUES (gen_random_uuid(), $1, 'bench'), (gen_random_uuid(), $2, 'bench') RETURNING id`,
        [`dbbench_${n}_a_${lanesMade}`, `dbbench_${n}_b_${lanesMade}`],
      );
      const [a, b] = users.rows.map((r) => r.id).sort();
      const conv = await c.query<{ id: string }>(
        `INSERT INTO conversations (id, user_low_id, user_high_id) VALUES (gen_random_uuid(), $1, $2) RETURNING id`,
        [a, b],
      );
      await c.query(`INSERT INTO bench_lanes VALUES ($1, $2, $3, $4)`, [n, conv.rows[0].id, a, b]);
    }
  } finally {
    await c.end();
  }
}

async function hasPgbench(): Promise<boolean> {
  try {
    await run('pgbench', ['--version']);
    return true;
  } catch {
    return false;
  }
}

async function pgbench(databaseUrl: string, script: string, clients: number, seconds: number): Promise<number> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dm-bench-')), 'script.sql');
  fs.writeFileSync(file, script);
  try {
    const { stdout } = await run(
      'pgbench',
      ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-f', file, databaseUrl],
      { maxBuffer: 1 << 20 },
    );
    const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
    if (!m) throw new Error(`pgbench output not understood:\n${stdout}`);
    return Math.round(Number(m[1]));
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

async function nodeLoop(databaseUrl: string, statements: string[], clients: number, seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  const counts = await Promise.all(
    Array.from({ length: clients }, async (_, n) => {
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      let done = 0;
      try {
        while (Date.now() < until) {
          for (const s of statements) await c.query(s, s.includes('$1') ? [n] : []);
          done++;
        }
      } finally {
        await c.end();
      }
      return done;
    }),
  );
  return round(counts.reduce((a, b) => a + b, 0) / seconds, 0);
}
