/**
 * What a second gateway process costs per DM, split in two: sharing the
 * load between processes, and each DM crossing Redis. The messages
 * benchmark's scaled stage puts every recipient on another process, so it
 * measures both at once; this runs the same load (half the users send, each
 * to its own recipient, eight DMs in flight per sender) in four placements,
 * alternated round by round because this kind of machine drifts:
 *
 * - `one`: one gateway process on Redis (what the others are compared with);
 * - `beside`: two processes, each recipient on its sender's process (every emit stays local);
 * - `across`: two processes, each recipient on the other one (the benchmark's placement);
 * - `one-way`: two processes, every sender on the first and every recipient on
 *   the second, so the second's CPU is what receiving a DM from Redis costs.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/gateway-placement.ts
 *   (ROUNDS=<n>, default 3; MEASURE_SECONDS=<measured seconds per run>, default 12; USERS=<n>, default 40)
 */
import crypto from 'node:crypto';
import { disconnectAll, inBatches, loginUsers } from '../support/bench-users';
import { BenchGateway, startBenchGateway } from '../support/gateway-process';
import { runMessageLoad } from '../support/message-load';
import { openSocket } from '../suites/messages';

type Placement = 'one' | 'beside' | 'across' | 'one-way';

const PLACEMENTS: Placement[] = ['one', 'beside', 'across', 'one-way'];

/** Which process (index) a sender and its recipient connect to, for lane k of `processes`. */
function placeOf(placement: Placement, k: number, processes: number): { sender: number; recipient: number } {
  switch (placement) {
    case 'one':
      return { sender: 0, recipient: 0 };
    case 'beside':
      return { sender: k % processes, recipient: k % processes };
    case 'across':
      return { sender: k % processes, recipient: (k + 1) % processes };
    case 'one-way':
      return { sender: 0, recipient: 1 };
  }
}

interface PlacementRun {
  placement: Placement;
  deliveredPerSec: number;
  /** CPU of all gateway processes per delivered DM. */
  usPerDm: number;
  /** The same, per process. */
  usPerDmByProcess: number[];
  p99Ms: number;
}

async function runPlacement(placement: Placement, users: number, seconds: number): Promise<PlacementRun> {
  const processes = placement === 'one' ? 1 : 2;
  const env = {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    NODE_ROLE: 'all',
    DM_RATE_PER_SEC: '1000000',
    DM_RATE_BURST: '1000000',
  };
  const gateways: BenchGateway[] = [];
  try {
    gateways.push(await startBenchGateway(env));
    while (gateways.length < processes) gateways.push(await startBenchGateway(env, { db: gateways[0].db }));
    const clients = await loginUsers(gateways[0].url, users, `place${placement.replace('-', '')}`);
    const half = Math.floor(users / 2);
    const senders = clients.slice(0, half);
    const recipients = clients.slice(half, 2 * half);
    const url = (i: number) => gateways[i].url;
    const senderSockets = await inBatches(senders, 32, (u, k) =>
      openSocket(url(placeOf(placement, k, processes).sender), { token: u.token }),
    );
    const recipientSockets = await inBatches(recipients, 32, (u, k) =>
      openSocket(url(placeOf(placement, k, processes).recipient), { token: u.token }),
    );
    const lanes = senders.map((_, k) => ({ sender: senderSockets[k], recipient: recipientSockets[k], recipientId: recipients[k].id }));
    await lanes[0].sender
      .timeout(10_000)
      .emitWithAck('dm:send', { to: lanes[0].recipientId, clientMsgId: crypto.randomUUID(), body: 'probe' });
    const result = await runMessageLoad({
      lanes,
      sendEvent: 'dm:send',
      deliveryEvent: 'dm:new',
      clientMsgIdOf: (p) => p?.message?.clientMsgId,
      window: 8,
      warmupMs: 3000,
      durationMs: seconds * 1000,
      cpuPids: gateways.map((g) => g.pid),
    });
    for (const s of [...senderSockets, ...recipientSockets]) s.disconnect();
    disconnectAll(clients);
    const perDm = (cores: number) => Math.round((cores / result.deliveredPerSec) * 1e7) / 10;
    return {
      placement,
      deliveredPerSec: Math.round(result.deliveredPerSec),
      usPerDm: Math.round(result.cpu!.usPerMessage * 10) / 10,
      usPerDmByProcess: gateways.map((g) => perDm(result.cpu!.cores[g.pid])),
      p99Ms: result.deliveryLatencyMs.p99,
    };
  } finally {
    for (const g of gateways.reverse()) await g.close();
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 3);
  const seconds = Number(process.env.MEASURE_SECONDS ?? 12);
  const users = Number(process.env.USERS ?? 40);
  console.log('round | placement | DMs/s | µs CPU per DM (all) | per process | × one | delivery p99 ms');
  for (let round = 1; round <= rounds; round++) {
    let one: number | undefined;
    for (const placement of PLACEMENTS) {
      const run = await runPlacement(placement, users, seconds);
      one ??= run.usPerDm;
      const ratio = Math.round((run.usPerDm / one) * 100) / 100;
      console.log(
        `${round} | ${placement} | ${run.deliveredPerSec} | ${run.usPerDm} | ${run.usPerDmByProcess.join(' / ')} | ${ratio} | ${run.p99Ms}`,
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
