/**
 * What gateway processes on Redis cost while nobody uses them: the scaling
 * runs' deployment (`scaledGatewayEnv`, every process also a media node),
 * no socket connected, read per process over a few windows. A process's
 * cost at rest is paid again by every process added, whatever the load, so
 * at a given rate it is part of what a second gateway adds per DM.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/gateway-at-rest.ts
 *   (PROCESSES=<n>, default 2; ROUNDS=<windows>, default 3; SECONDS=<per window>, default 10;
 *   BENCH_GATEWAY_ENV=<NAME=value,...> more settings for every process, as for `npm run bench`, e.g.
 *   MEDIA_HEARTBEAT_MS=5000,MEDIA_HEARTBEAT_TTL_MS=10000,MEDIA_RECOVERY_SWEEP_MS=10000)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { scaledGatewayEnv } from '../suites/messages';
import { BenchGateway, startBenchGateway } from '../support/gateway-process';
import { usageAtRest } from '../support/process-usage';
import { numberSetting } from '../support/env-settings';

const processes = numberSetting('PROCESSES', 2, { whole: true, min: 1 });
const rounds = numberSetting('ROUNDS', 3, { whole: true, min: 1 });
const seconds = numberSetting('SECONDS', 10, { whole: true, min: 1 });
/** Before the first window: start-up's own work (compiling, first heartbeats) done. */
const SETTLE_MS = 5000;

async function main(): Promise<void> {
  const env = scaledGatewayEnv();
  const gateways: BenchGateway[] = [];
  try {
    gateways.push(await startBenchGateway(env));
    while (gateways.length < processes) gateways.push(await startBenchGateway(env, { db: gateways[0].db }));
    await sleep(SETTLE_MS);
    console.log('round | process | ms of CPU per second (all threads) | of it the main thread | thread switches per second');
    for (let round = 1; round <= rounds; round++) {
      const usage = await usageAtRest(
        gateways.map((g) => g.pid),
        seconds,
      );
      usage.forEach((u, i) =>
        console.log(
          [round, i + 1, u.cpuMsPerSecond.toFixed(1), u.mainThreadMsPerSecond.toFixed(1), u.switchesPerSecond.toFixed(1)].join(' | '),
        ),
      );
    }
  } finally {
    for (const g of gateways.reverse()) await g.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
