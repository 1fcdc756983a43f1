/**
 * What PostgreSQL spends per stored message on the messages table itself,
 * apart from the rest of a send's statement: CONNECTIONS connections each
 * insert BATCH rows per statement (as the batched append does, with the
 * table's indexes, keys and trigger as migrated), STATEMENTS statements
 * per run. Prints, per run, the rows per second and the CPU of all the
 * server's processes per row, for the schema as migrated and for variants
 * of it, alternated round by round (each round starts them at a different
 * one), then each variant's median.
 *
 * The variant kept here puts back the index of recipient and time that the
 * inbox order made unused: it says what that index cost every message.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/message-insert-cost.ts
 *   (ROUNDS, default 6; STATEMENTS, default 300; BATCH, default 48; CONNECTIONS, default 4)
 */
import crypto from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '@app/database';
import { createScratchDatabase } from '@app/harness';
import { sampleMachineCpu } from '../support/machine-usage';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4);
const BATCH = Number(process.env.BATCH ?? 48);
const STATEMENTS = Number(process.env.STATEMENTS ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
/** Conversations each connection writes to, in turn (the benchmark's lanes). */
const PAIRS_PER_CONNECTION = 5;

/** Each variant: the statements that make it from the schema as migrated, and those that undo them. */
const VARIANTS: Record<string, { apply: string[]; undo: string[] }> = {
  'as migrated': { apply: [], undo: [] },
  'with the recipient/time index': {
    apply: ['CREATE INDEX messages_recipient_id_created_at_idx ON messages (recipient_id, created_at)'],
    undo: ['DROP INDEX messages_recipient_id_created_at_idx'],
  },
};

const INSERT = `
  INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, kind, body, created_at,
                        sender_inbox_seq, recipient_inbox_seq)
  SELECT gen_random_uuid(), c, s, snd, rcp, gen_random_uuid(), 'text', $5, now(), si, ri
    FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], $6::int[], $7::int[]) AS t (c, s, snd, rcp, si, ri)`;

interface Lane {
  conversation: string;
  sender: string;
  recipient: string;
  seq: number;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined); // the scratch database is dropped under it at the end
  await client.connect();
  return client;
}

/** A pair of users and their conversation per lane, CONNECTIONS × PAIRS_PER_CONNECTION lanes. */
async function makeLanes(admin: Client): Promise<Lane[][]> {
  const lanes: Lane[][] = [];
  for (let c = 0; c < CONNECTIONS; c++) {
    lanes.push([]);
    for (let p = 0; p < PAIRS_PER_CONNECTION; p++) {
      const [low, high] = [crypto.randomUUID(), crypto.randomUUID()].sort();
      await admin.query(`INSERT INTO users (id, handle, display_name) VALUES ($1, $2, 'low'), ($3, $4, 'high')`, [
        low,
        `c${c}p${p}low`,
        high,
        `c${c}p${p}high`,
      ]);
      const conversation = crypto.randomUUID();
      await admin.query(`INSERT INTO conversations (id, user_low_id, user_high_id) VALUES ($1, $2, $3)`, [conversation, low, high]);
      lanes[c].push({ conversation, sender: low, recipient: high, seq: 0 });
    }
  }
  return lanes;
}

async function main(): Promise<void> {
  const db = await createScratchDatabase();
  try {
    await migrate(db.url);
    const admin = await connect(db.url);
    const lanes = await makeLanes(admin);
    const writers = await Promise.all(lanes.map(() => connect(db.url)));
    let inboxSeq = 0;
    /** One run: every writer's statements, under `statement` (a new name is planned anew after a schema change). */
    const run = async (statement: string) => {
      // Each run starts after a checkpoint, so each meets the same full-page writes.
      await admin.query('CHECKPOINT');
      const before = sampleMachineCpu()!;
      const started = performance.now();
      await Promise.all(
        writers.map(async (writer, c) => {
          for (let i = 0; i < STATEMENTS; i++) {
            const rows = Array.from({ length: BATCH }, (_, k) => lanes[c][k % PAIRS_PER_CONNECTION]);
            const seqs = rows.map((lane) => ++lane.seq);
            await writer.query({
              name: statement,
              text: INSERT,
              values: [
                rows.map((l) => l.conversation),
                seqs,
                rows.map((l) => l.sender),
                rows.map((l) => l.recipient),
                'x'.repeat(64),
                rows.map(() => ++inboxSeq),
                rows.map(() => ++inboxSeq),
              ],
            });
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const after = sampleMachineCpu()!;
      const rows = CONNECTIONS * STATEMENTS * BATCH;
      return { rowsPerSec: Math.round(rows / seconds), usPerRow: ((after.services.postgres - before.services.postgres) / rows) * 1e6 };
    };
    await run('warm-up');
    const names = Object.keys(VARIANTS);
    const perRow: Record<string, number[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
      for (const [index, name] of order.entries()) {
        for (const sql of VARIANTS[name].apply) await admin.query(sql);
        const r = await run(`insert-${round}-${index}`);
        for (const sql of VARIANTS[name].undo) await admin.query(sql);
        (perRow[name] ??= []).push(r.usPerRow);
        console.log(`round ${round}, ${name}: ${r.rowsPerSec} rows/s, PostgreSQL ${r.usPerRow.toFixed(1)} µs of CPU per row`);
      }
    }
    for (const [name, values] of Object.entries(perRow)) {
      const sorted = [...values].sort((a, b) => a - b);
      console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} µs per row`);
    }
    await Promise.all([...writers, admin].map((c) => c.end()));
  } finally {
    await db.drop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
