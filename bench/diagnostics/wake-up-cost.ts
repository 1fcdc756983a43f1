/**
 * What this machine charges a Node process for waking up to do nothing:
 * the CPU (all threads, user and kernel) per empty timer callback after
 * sleeping SLEEPS milliseconds. A gateway that wakes for a few DMs likely
 * pays something like this on every wake-up, so where it is large, a
 * process handling fewer DMs per wake-up (less load, or arrivals spread
 * out) would cost more per DM.
 *
 *   node -r ts-node/register/transpile-only bench/diagnostics/wake-up-cost.ts
 *   (SLEEPS=<ms, comma-separated>, default 0,1,2,4,8,16,32; ROUNDS=<n>, default 2)
 *
 * A sleep of 0 is a turn of the event loop that never sleeps (setImmediate;
 * Node turns a 0 ms timer into 1 ms): what the same callback costs warm.
 * Each other sleep runs 1,000 wake-ups, or as many as fit in about 10 s,
 * per round, after a short warm-up so that compiling this loop is not counted.
 */
import { numberListSetting, numberSetting } from '../support/env-settings';

const sleeps = numberListSetting('SLEEPS', [0, 1, 2, 4, 8, 16, 32], { whole: true, min: 0, max: 1000 });
const rounds = numberSetting('ROUNDS', 2, { whole: true, min: 1 });

interface WakeUps {
  sleepMs: number;
  wakeUps: number;
  cpuUsPerWakeUp: number;
  kernelUsPerWakeUp: number;
  wallUsPerWakeUp: number;
}

async function wakeUps(sleepMs: number, count: number): Promise<WakeUps> {
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => (sleepMs === 0 ? setImmediate(resolve) : setTimeout(resolve, sleepMs)));
  }
  const cpu = process.cpuUsage(cpuBefore);
  const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000;
  return {
    sleepMs,
    wakeUps: count,
    cpuUsPerWakeUp: (cpu.user + cpu.system) / count,
    kernelUsPerWakeUp: cpu.system / count,
    wallUsPerWakeUp: wallUs / count,
  };
}

async function main(): Promise<void> {
  await wakeUps(1, 300);
  console.log('round | sleep ms | wake-ups | µs CPU per wake-up | of it in the kernel | µs wall per wake-up');
  for (let round = 1; round <= rounds; round++) {
    for (const sleepMs of sleeps) {
      const w = await wakeUps(sleepMs, sleepMs === 0 ? 100_000 : Math.min(1000, Math.round(10_000 / sleepMs)));
      console.log(
        [round, w.sleepMs, w.wakeUps, w.cpuUsPerWakeUp.toFixed(1), w.kernelUsPerWakeUp.toFixed(1), w.wallUsPerWakeUp.toFixed(0)].join(
          ' | ',
        ),
      );
    }
  }
}

void main();
