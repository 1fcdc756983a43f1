/**
 * A stand-in for a second busy process that is not a gateway: short bursts
 * of allocation-heavy work (JSON over a few MB of objects) with sleeps
 * between them, using about BUSY_SHARE of a core (default 0.25). The
 * placement diagnostic runs it beside one gateway process, to tell what
 * sharing the cores with any busy process costs that process from what a
 * second gateway does.
 */
import { numberSetting } from '../support/env-settings';

const share = numberSetting('BUSY_SHARE', 0.25, { above: 0, below: 1 });
const BURST_MS = 1;
const sleepMs = (BURST_MS * (1 - share)) / share;
const records = Array.from({ length: 20_000 }, (_, i) => ({ id: i, body: `${'x'.repeat(64)}${i}`, to: `user-${i % 40}` }));
let next = 0;
let checksum = 0;

function burst(): void {
  const end = performance.now() + BURST_MS;
  while (performance.now() < end) {
    next = (next * 7919 + 1) % records.length;
    checksum += (JSON.parse(JSON.stringify({ ...records[next], at: Date.now() })) as { body: string }).body.length;
  }
  setTimeout(burst, sleepMs);
}

burst();
process.on('SIGTERM', () => {
  const { user, system } = process.cpuUsage();
  console.log(`busy neighbour: ${Math.round((user + system) / 1000)} ms of CPU in ${process.uptime().toFixed(1)} s (checksum ${checksum})`);
  process.exit(0);
});
