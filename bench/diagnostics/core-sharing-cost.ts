/**
 * What the same work costs in CPU time when another core is busy too. Runs
 * a fixed, allocation-heavy JSON workload (json-workload.ts, the kind of
 * work a gateway does per DM) in one process alone, then in two processes
 * at once, round by round, and prints the CPU time each unit of work took
 * in each. On two cores that are separate physical cores the two read
 * about alike; where the host runs both virtual cores on one physical core
 * (or they share its caches and memory bandwidth) the work costs more CPU
 * time with both busy, whatever the code: a floor under what a second busy
 * process costs per DM.
 *
 *   node -r ts-node/register/transpile-only bench/diagnostics/core-sharing-cost.ts
 *   (ROUNDS=<n>, default 3; SECONDS=<per stage>, default 5)
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { numberSetting } from '../support/env-settings';
import { jsonWorkUnit } from './json-workload';

interface WorkerReading {
  units: number;
  cpuUs: number;
}

/** In a worker process: the workload for `ms`; its units and CPU time go to the parent. */
function work(ms: number): WorkerReading {
  const workUnit = jsonWorkUnit();
  let units = 0;
  let checksum = 0;
  const start = process.cpuUsage();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      checksum += workUnit();
      units++;
    }
  }
  const used = process.cpuUsage(start);
  if (checksum < 0) console.log(checksum);
  return { units, cpuUs: used.user + used.system };
}

async function runWorkers(count: number, ms: number): Promise<WorkerReading[]> {
  const workers = Array.from({ length: count }, () =>
    fork(__filename, ['--worker', String(ms)], { execArgv: ['-r', 'ts-node/register/transpile-only'] }),
  );
  // Started together once every worker is up, so no worker's start-up overlaps another's work.
  await Promise.all(workers.map((w) => once(w, 'message')));
  const readings = workers.map(async (w) => (await once(w, 'message'))[0] as WorkerReading);
  for (const w of workers) w.send('go');
  return Promise.all(readings);
}

const nsPerUnit = (readings: WorkerReading[]) =>
  (readings.reduce((s, r) => s + r.cpuUs, 0) * 1000) / readings.reduce((s, r) => s + r.units, 0);

async function main(): Promise<void> {
  const rounds = numberSetting('ROUNDS', 3, { whole: true, min: 1 });
  const ms = numberSetting('SECONDS', 5, { above: 0 }) * 1000;
  console.log('round | ns of CPU per unit, one process alone | two at once | × alone');
  for (let round = 1; round <= rounds; round++) {
    const alone = nsPerUnit(await runWorkers(1, ms));
    const together = nsPerUnit(await runWorkers(2, ms));
    console.log(`${round} | ${alone.toFixed(0)} | ${together.toFixed(0)} | ${(together / alone).toFixed(2)}`);
  }
}

if (process.argv[2] === '--worker') {
  process.once('message', () => process.send!(work(Number(process.argv[3])), () => process.exit(0)));
  process.send!('ready');
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
