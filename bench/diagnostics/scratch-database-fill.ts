/**
 * What PostgreSQL spends per DM on a database that starts empty against one
 * already holding rows. The messages benchmark's persisted stage runs on the
 * database its insert ceiling just filled (about 150,000 messages), while
 * each scaled stage starts on a new, empty one. This runs the scaled stage's
 * load (`scaledRun`) both ways, alternated round by round because this kind
 * of machine drifts: `empty` as the benchmark does, `filled` after the same
 * insert ceiling ran on the new database first.
 *
 * Beside each run: PostgreSQL's WAL records, full-page images and bytes, and
 * the buffers written by checkpoints, the background writer and backends,
 * over the whole run (its database's creation and drop included), from
 * pg_stat_wal and pg_stat_bgwriter.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/scratch-database-fill.ts
 *   (ROUNDS=<n>, default 2; PROCESSES=<gateway processes>, default 1;
 *   MEASURE_SECONDS=<measured seconds per run>, default 10)
 */
import { onDatabaseServer } from '@app/harness';
import { measureInsertRate } from '../ceilings/database-insert-rate';
import { MessagesOptions, RECIPIENT_ON_NEXT_PROCESS, scaledRun } from '../suites/messages';
import { numberSetting } from '../support/env-settings';

/** Server-wide counters of PostgreSQL's WAL and buffer writes. */
async function writeCounters(): Promise<Record<string, number>> {
  return onDatabaseServer(async (c) => {
    const { rows } = await c.query(
      `SELECT w.wal_records, w.wal_fpi, w.wal_bytes, b.buffers_checkpoint, b.buffers_clean, b.buffers_backend, b.checkpoints_req
         FROM pg_stat_wal w, pg_stat_bgwriter b`,
    );
    return Object.fromEntries(Object.entries(rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
  });
}

async function main(): Promise<void> {
  const rounds = numberSetting('ROUNDS', 2, { whole: true, min: 1 });
  const processes = numberSetting('PROCESSES', 1, { whole: true, min: 1 });
  const options: MessagesOptions = {
    clients: 40,
    window: 4,
    warmupMs: 3000,
    durationMs: numberSetting('MEASURE_SECONDS', 10, { above: 0 }) * 1000,
    dbClients: 0,
  };
  // The benchmark's insert ceiling: 8 clients, as its messages suite runs it.
  const fill = async (url: string) => void (await measureInsertRate(url, 8, 10));
  console.log(
    'round | database | DMs/s | gateway µs CPU per DM | PostgreSQL µs CPU per DM | cores busy | mean append batch | ' +
      'WAL records, full-page images, MB | buffers written by checkpoints, bgwriter, backends | requested checkpoints',
  );
  for (let round = 1; round <= rounds; round++) {
    for (const [label, prepare] of [
      ['empty', undefined],
      ['filled', fill],
    ] as const) {
      const before = await writeCounters();
      const run = await scaledRun(options, processes, () => undefined, RECIPIENT_ON_NEXT_PROCESS, prepare);
      const after = await writeCounters();
      const d = (k: string) => after[k] - before[k];
      const writes =
        `${d('wal_records')}, ${d('wal_fpi')}, ${(d('wal_bytes') / 1e6).toFixed(1)} | ` +
        `${d('buffers_checkpoint')}, ${d('buffers_clean')}, ${d('buffers_backend')} | ${d('checkpoints_req')}`;
      if (!('deliveredPerSec' in run)) {
        console.log(`${round} | ${label} | not measured: ${run.unavailable}`);
        continue;
      }
      const postgres = run.machine?.servicesUsPerOp.postgres ?? '–';
      console.log(
        `${round} | ${label} | ${run.deliveredPerSec} | ${run.cpuUsPerMessage} | ${postgres} | ${run.machine?.busyCores ?? '–'} | ${run.meanBatch?.append ?? '–'} | ${writes}`,
      );
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
