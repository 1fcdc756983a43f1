/**
 * What a second gateway process costs per DM, split in two: sharing the
 * load between processes, and each DM crossing Redis. The messages
 * benchmark's scaled stage puts every recipient on another process, so it
 * measures both at once; this runs the same stage (its load and its
 * deployment, `scaledRun`) in the placements below, alternated round by round
 * because this kind of machine drifts:
 *
 * - `one`: one gateway process on Redis (what the others are compared with);
 * - `beside`: two processes, each recipient on its sender's process (every emit stays local);
 * - `across`: two processes, each recipient on the other one (the benchmark's placement);
 * - `one-way`: two processes, every sender on the first and every recipient on
 *   the second, so the second's CPU is what receiving a DM from Redis costs;
 * - `half`: one process carrying half of the load alone (half the users, half
 *   the RATE): what each process of `beside` carries, without the other;
 * - `one-busy`: `one` with a busy process beside it that is not a gateway
 *   (`busy-neighbour.ts`, BUSY_SHARE of a core, default 0.25): what sharing
 *   the cores with any busy process costs.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/gateway-placement.ts
 *   (ROUNDS=<n>, default 3; MEASURE_SECONDS=<measured seconds per run>, default 12;
 *   WARMUP_SECONDS=<load before the measured part>, default 3; USERS=<n>, default 40;
 *   PLACEMENTS=<labels, comma-separated>, default one, beside, across and one-way;
 *   RATE=<DMs per second in all>, default none: as many as the deployment takes)
 *
 * Unset, RATE leaves each placement as loaded as it can be, which on a small
 * machine fills every core with two processes but not with one. With a RATE
 * that one process carries with cores to spare, every placement does the
 * same work per second, and the comparison is of the code, not of how full
 * the machine is.
 */
import { ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { LanePlacement, MessagesOptions, RECIPIENT_ON_NEXT_PROCESS, scaledRun } from '../suites/messages';
import { describeCpuBeside, describeMachineBusy } from '../support/machine-usage';
import { numberSetting } from '../support/env-settings';

interface Placement {
  label: string;
  processes: number;
  placement: LanePlacement;
  /** Of the users and the RATE; default 1. */
  share?: number;
  /** Run busy-neighbour.ts beside the gateways. */
  busyNeighbour?: boolean;
  /** Left out unless PLACEMENTS names it. */
  onRequest?: boolean;
}

const PLACEMENTS: Placement[] = [
  { label: 'one', processes: 1, placement: RECIPIENT_ON_NEXT_PROCESS },
  {
    label: 'beside',
    processes: 2,
    placement: {
      name: "each recipient on its sender's process",
      of: (k, processes) => ({ sender: k % processes, recipient: k % processes }),
    },
  },
  { label: 'across', processes: 2, placement: RECIPIENT_ON_NEXT_PROCESS },
  {
    label: 'one-way',
    processes: 2,
    placement: { name: 'every sender on the first process, every recipient on the second', of: () => ({ sender: 0, recipient: 1 }) },
  },
  { label: 'half', processes: 1, placement: RECIPIENT_ON_NEXT_PROCESS, share: 0.5, onRequest: true },
  { label: 'one-busy', processes: 1, placement: RECIPIENT_ON_NEXT_PROCESS, busyNeighbour: true, onRequest: true },
];

/** busy-neighbour.ts, running until stopNeighbour. */
function startNeighbour(): ChildProcess {
  return fork(path.join(__dirname, 'busy-neighbour.ts'), { execArgv: ['-r', 'ts-node/register/transpile-only'] });
}

async function stopNeighbour(neighbour: ChildProcess): Promise<void> {
  // Gone already (a bad BUSY_SHARE, say): the run had no neighbour, so it does not count.
  if (neighbour.exitCode !== null) throw new Error(`the busy neighbour stopped early, with exit code ${neighbour.exitCode}`);
  const exited = once(neighbour, 'exit');
  neighbour.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const rounds = numberSetting('ROUNDS', 3, { whole: true, min: 1 });
  const options: MessagesOptions = {
    clients: numberSetting('USERS', 40, { whole: true, min: 2 }),
    // scaledRun doubles it: half the clients send, each with eight DMs in flight.
    window: 4,
    warmupMs: numberSetting('WARMUP_SECONDS', 3, { min: 0 }) * 1000,
    durationMs: numberSetting('MEASURE_SECONDS', 12, { above: 0 }) * 1000,
    dbClients: 0,
    ratePerSec: numberSetting('RATE', undefined, { above: 0 }),
  };
  const only = process.env.PLACEMENTS?.split(',');
  const unknown = only?.filter((label) => !PLACEMENTS.some((p) => p.label === label)) ?? [];
  if (unknown.length > 0) {
    console.error(`PLACEMENTS: unknown ${unknown.join(', ')}; known: ${PLACEMENTS.map((p) => p.label).join(', ')}`);
    process.exit(2);
  }
  const placements = PLACEMENTS.filter((p) => (only ? only.includes(p.label) : !p.onRequest));
  const quiet = () => undefined;
  console.log(
    'round | placement | DMs/s | µs CPU per DM (all) | of it in the kernel | thread switches per DM (preempted) | per process | × one | delivery p99 ms | mean append batch | machine (µs per DM beside)',
  );
  for (let round = 1; round <= rounds; round++) {
    let one: number | undefined;
    for (const { label, processes, placement, share = 1, busyNeighbour } of placements) {
      const shared = {
        ...options,
        clients: Math.round(options.clients * share),
        ratePerSec: options.ratePerSec && options.ratePerSec * share,
      };
      const neighbour = busyNeighbour ? startNeighbour() : undefined;
      const run = await scaledRun(shared, processes, quiet, placement).finally(() => neighbour && stopNeighbour(neighbour));
      if ('unavailable' in run) throw new Error(`${label}: ${run.unavailable}`);
      one ??= run.cpuUsPerMessage;
      const ratio = Math.round((run.cpuUsPerMessage / one) * 100) / 100;
      console.log(
        `${round} | ${label} | ${Math.round(run.deliveredPerSec)} | ${Math.round(run.cpuUsPerMessage * 10) / 10} | ${run.cpu?.systemUsPerMessage ?? '–'} | ` +
          `${run.cpu?.contextSwitchesPerMessage ?? '–'} (${run.cpu?.preemptionsPerMessage ?? '–'}) | ` +
          `${run.cpuUsPerMessageByProcess?.join(' / ')} | ${ratio} | ${run.deliveryLatencyMs.p99} | ${run.meanBatch?.append ?? '–'} | ` +
          (run.machine ? `${describeMachineBusy(run.machine)}; ${describeCpuBeside(run.machine)}` : '–'),
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
