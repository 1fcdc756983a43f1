/**
 * What PostgreSQL spends per stored message, measured on PostgreSQL alone:
 * CONNECTIONS connections each store BATCH messages per statement,
 * STATEMENTS statements per run, and the CPU of all the server's processes
 * is divided by the messages stored. Variants are alternated round by round
 * (each round starts them at a different one); each variant's median is
 * printed at the end.
 *
 * MODE=insert (the default): a bare batched insert into the messages table
 * as migrated (its keys, indexes and trigger), against the table with the
 * index of recipient and time that the inbox order made unused put back.
 *
 * MODE=append: the send path's own batched append statement
 * (MessageRepository's), as it is and with one of its parts taken out at a
 * time. Not a statement to run: it says where the statement's cost is.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/message-insert-cost.ts
 *   (MODE=insert|append; ROUNDS, default 6; STATEMENTS, default 300; BATCH, default 48; CONNECTIONS, default 4)
 */
import crypto from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '@app/database';
import { createScratchDatabase } from '@app/harness';
import { APPEND_BATCH_SQL } from '../../libs/messaging/src/message.repository';
import { sampleServicesCpu, servicesCpuBetween } from '../support/machine-usage';
import { numberSetting } from '../support/env-settings';

const CONNECTIONS = numberSetting('CONNECTIONS', 4, { whole: true, min: 1 });
const BATCH = numberSetting('BATCH', 48, { whole: true, min: 1 });
const STATEMENTS = numberSetting('STATEMENTS', 300, { whole: true, min: 1 });
const ROUNDS = numberSetting('ROUNDS', 6, { whole: true, min: 1 });
/** Conversations each connection writes to, in turn (the benchmark's lanes). */
const PAIRS_PER_CONNECTION = 5;

interface Lane {
  conversation: string;
  low: string;
  high: string;
  seq: number;
}

/** One variant: the schema changes that make it (and undo it), and the statement with its values for a batch. */
interface Variant {
  apply?: string[];
  undo?: string[];
  sql: string;
  values(rows: Lane[], next: () => number): unknown[];
}

const BARE_INSERT = `
  INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, kind, body, created_at,
                        sender_inbox_seq, recipient_inbox_seq)
  SELECT gen_random_uuid(), c, s, snd, rcp, gen_random_uuid(), 'text', $5, now(), si, ri
    FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], $6::int[], $7::int[]) AS t (c, s, snd, rcp, si, ri)`;

/** The bare insert's values: each lane's next seq, and positions from one counter. */
function bareInsertValues(rows: Lane[], next: () => number): unknown[] {
  return [
    rows.map((l) => l.conversation),
    rows.map((l) => ++l.seq),
    rows.map((l) => l.low),
    rows.map((l) => l.high),
    'x'.repeat(64),
    rows.map(() => next()),
    rows.map(() => next()),
  ];
}

/** The append statement's values, as MessageRepository.appendBatch gives them; the pair's two users take turns sending. */
function appendValues(rows: Lane[]): unknown[] {
  const sends = rows.map((l, k) => (k % 2 === 0 ? { ...l, from: l.low, to: l.high } : { ...l, from: l.high, to: l.low }));
  return [
    sends.map((m) => m.conversation),
    sends.map((m) => m.from),
    sends.map((m) => m.to),
    sends.map(() => crypto.randomUUID()),
    sends.map(() => 'text'),
    sends.map(() => 'x'.repeat(64)),
    sends.map(() => new Date()),
    sends.map(() => null),
    [...new Set(sends.map((m) => m.conversation))].sort(),
    [...new Set(sends.flatMap((m) => [m.from, m.to]))].sort(),
  ];
}

/** The append statement with `part` replaced: fails loudly when the statement no longer has it. */
function appendWithout(part: RegExp, replacement = ''): Variant {
  const sql = APPEND_BATCH_SQL.replace(part, replacement);
  if (sql === APPEND_BATCH_SQL) throw new Error(`the append statement has no ${part}`);
  return { sql, values: appendValues };
}

const MODES: Record<string, Record<string, Variant>> = {
  insert: {
    'as migrated': { sql: BARE_INSERT, values: bareInsertValues },
    'with the recipient/time index': {
      apply: ['CREATE INDEX messages_recipient_id_created_at_idx ON messages (recipient_id, created_at)'],
      undo: ['DROP INDEX messages_recipient_id_created_at_idx'],
      sql: BARE_INSERT,
      values: bareInsertValues,
    },
  },
  append: {
    'as it is': { sql: APPEND_BATCH_SQL, values: appendValues },
    'without the block check': appendWithout(
      /AND NOT EXISTS \(SELECT 1 FROM batch_blocks[\s\S]*?batch_blocks\.blocked_id = t\.sender_id\)\)/,
    ),
    'without locking the users': appendWithout(/ORDER BY id FOR NO KEY UPDATE/, 'ORDER BY id'),
    'without locking the conversations': appendWithout(/ORDER BY id\n\s+FOR NO KEY UPDATE/, 'ORDER BY id'),
    'without moving the read marks': appendWithout(/\), r AS \([\s\S]*?\n {2}\)\n {2}SELECT \* FROM m/, ')\n  SELECT * FROM m'),
  },
};

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined); // the scratch database is dropped under it at the end
  await client.connect();
  return client;
}

/** A pair of users, their conversation and its members per lane, CONNECTIONS × PAIRS_PER_CONNECTION lanes. */
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
      await admin.query(`INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2), ($1, $3)`, [conversation, low, high]);
      lanes[c].push({ conversation, low, high, seq: 0 });
    }
  }
  return lanes;
}

async function main(): Promise<void> {
  const mode = process.env.MODE ?? 'insert';
  const variants = MODES[mode];
  if (!variants) throw new Error(`MODE must be one of ${Object.keys(MODES).join(', ')}`);
  const db = await createScratchDatabase();
  try {
    await migrate(db.url);
    const admin = await connect(db.url);
    const lanes = await makeLanes(admin);
    const writers = await Promise.all(lanes.map(() => connect(db.url)));
    let counter = 0;
    const next = () => ++counter;
    /** One run of `variant`'s statement by every writer, under `name` (a new name is planned anew after a schema change). */
    const run = async (variant: Variant, name: string) => {
      // Each run starts after a checkpoint, so each meets the same full-page writes.
      await admin.query('CHECKPOINT');
      const before = sampleServicesCpu();
      const started = performance.now();
      let stored = 0;
      await Promise.all(
        writers.map(async (writer, c) => {
          for (let i = 0; i < STATEMENTS; i++) {
            const rows = Array.from({ length: BATCH }, (_, k) => lanes[c][k % PAIRS_PER_CONNECTION]);
            // Awaited first: `stored += await …` would read `stored` before the wait, losing the other writers' counts.
            const result = await writer.query({ name, text: variant.sql, values: variant.values(rows, next) });
            stored += result.rowCount ?? 0;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const after = sampleServicesCpu();
      return {
        perSec: Math.round(stored / seconds),
        usPerMessage: (servicesCpuBetween(before, after).postgres / stored) * 1e6,
      };
    };
    const names = Object.keys(variants);
    await run(variants[names[0]], 'warm-up');
    const perMessage: Record<string, number[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
      for (const [index, name] of order.entries()) {
        const variant = variants[name];
        for (const sql of variant.apply ?? []) await admin.query(sql);
        const r = await run(variant, `statement-${round}-${index}`);
        for (const sql of variant.undo ?? []) await admin.query(sql);
        (perMessage[name] ??= []).push(r.usPerMessage);
        console.log(`round ${round}, ${name}: ${r.perSec} messages/s, PostgreSQL ${r.usPerMessage.toFixed(1)} µs of CPU per message`);
      }
    }
    for (const [name, values] of Object.entries(perMessage)) {
      const sorted = [...values].sort((a, b) => a - b);
      console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} µs per message`);
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
