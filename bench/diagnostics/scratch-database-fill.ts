/**
 * What PostgreSQL spends per DM on a database that starts empty against one
 * already holding rows. The messages benchmark's persisted stage runs on the
 * database its insert ceiling just filled (about 150,000 messages), while
 * each scaled stage starts on a new, empty one. This runs the scaled stage's
 * load (`scaledRun`) both ways, alternated round by round because this kind
 * of machine drifts: `empty` as the benchmark does, `filled` after the same
 * insert ceiling ran on the new database first.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/scratch-database-fill.ts
 *   (ROUNDS=<n>, default 2; PROCESSES=<gateway processes>, default 1;
 *   MEASURE_SECONDS=<measured seconds per run>, default 10)
 */
import { measureInsertRate } from '../ceilings/database-insert-rate';
import { MessagesOptions, RECIPIENT_ON_NEXT_PROCESS, scaledRun } from '../suites/messages';

async function main(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 2);
  const processes = Number(process.env.PROCESSES ?? 1);
  const options: MessagesOptions = {
    clients: 40,
    window: 4,
    warmupMs: 3000,
    durationMs: Number(process.env.MEASURE_SECONDS ?? 10) * 1000,
    dbClients: 0,
  };
  // The benchmark's insert ceiling: 8 clients, as its messages suite runs it.
  const fill = async (url: string) => void (await measureInsertRate(url, 8, 10));
  console.log('round | database | DMs/s | gateway µs CPU per DM | PostgreSQL µs CPU per DM | cores busy | mean append batch');
  for (let round = 1; round <= rounds; round++) {
    for (const [label, prepare] of [
      ['empty', undefined],
      ['filled', fill],
    ] as const) {
      const run = await scaledRun(options, processes, () => undefined, RECIPIENT_ON_NEXT_PROCESS, prepare);
      if (!('deliveredPerSec' in run)) {
        console.log(`${round} | ${label} | not measured: ${run.unavailable}`);
        continue;
      }
      const postgres = run.machine?.servicesUsPerOp.postgres ?? '–';
      console.log(
        `${round} | ${label} | ${run.deliveredPerSec} | ${run.cpuUsPerMessage} | ${postgres} | ${run.machine?.busyCores ?? '–'} | ${run.meanBatch?.append ?? '–'}`,
      );
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
