/**
 * A stand-in for a second busy process that is not a gateway: short bursts
 * of allocation-heavy work (json-workload.ts) with sleeps between them,
 * using about BUSY_SHARE of a core (default 0.25). The placement
 * diagnostic runs it beside one gateway process, to tell what sharing the
 * cores with any busy process costs that process from what a second
 * gateway does.
 */
import { numberSetting } from '../support/env-settings';
import { jsonWorkUnit } from './json-workload';

const share = numberSetting('BUSY_SHARE', 0.25, { above: 0, below: 1 });
const BURST_MS = 1;
const sleepMs = (BURST_MS * (1 - share)) / share;
const workUnit = jsonWorkUnit();
let checksum = 0;

function burst(): void {
  const end = performance.now() + BURST_MS;
  while (performance.now() < end) {
    checksum += workUnit();
  }
  setTimeout(burst, sleepMs);
}

burst();
process.on('SIGTERM', () => {
  const { user, system } = process.cpuUsage();
  console.log(`busy neighbour: ${Math.round((user + system) / 1000)} ms of CPU in ${process.uptime().toFixed(1)} s (checksum ${checksum})`);
  process.exit(0);
});
