import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { io, Socket } from 'socket.io-client';
import { measureInsertRate, InsertRateResult } from '../ceilings/database-insert-rate';
import { inBatches, loginUsers, disconnectAll } from '../support/bench-users';
import { CHECKPOINTED_BEFORE, logUnplannedCheckpoints, startAfterCheckpoint, SuiteCheckpoints } from '../support/database-checkpoints';
import { benchRedisUrl, startBenchGateway } from '../support/gateway-process';
import { MessageLane, MessageLoadResult, runMessageLoad } from '../support/message-load';
import { cpuRatio } from '../support/process-usage';
import { round } from '../support/latency-samples';

const ROOT = path.resolve(__dirname, '..', '..');

export interface MessagesOptions {
  clients: number;
  window: number;
  warmupMs: number;
  durationMs: number;
  dbClients: number;
  /**
   * Also through 1, 2 and 4 gateway processes on Redis and one PostgreSQL (needs BENCH_REDIS_URL's Redis,
   * default 127.0.0.1:6379): what adding processes to a deployment does.
   */
  cluster?: boolean;
  /** Persisted runs: at most this many DMs per second in all (see MessageLoadOptions.ratePerSec); unset, as many as the server takes. */
  ratePerSec?: number;
}

export type PersistedRun =
  | (MessageLoadResult & {
      gatewayCores: number;
      cpuUsPerMessage: number;
      /** Sends per group commit over the whole run (the gateway's dm_batch_size histogram), by query. */
      meanBatch?: Record<string, number>;
      /** `cpuUsPerMessage` split by gateway process, in the order they started. */
      cpuUsPerMessageByProcess?: number[];
    })
  | { unavailable: string };

/** Mean of each dm_batch_size series of the gateways' /metrics (summed over them). */
async function meanBatchSizes(urls: string[]): Promise<Record<string, number> | undefined> {
  const sums: Record<string, { sum: number; count: number }> = {};
  try {
    for (const url of urls) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const m of text.matchAll(/^(?:[a-z]+_)?dm_batch_size_(sum|count)\{query="(\w+)"\} ([\d.e+]+)$/gm)) {
        const s = (sums[m[2]] ??= { sum: 0, count: 0 });
        s[m[1] as 'sum' | 'count'] += Number(m[3]);
      }
    }
  } catch {
    return undefined;
  }
  return Object.fromEntries(Object.entries(sums).map(([q, s]) => [q, round(s.sum / s.count, 1)]));
}

export interface MessagesResult {
  options: MessagesOptions;
  relayCeiling: MessageLoadResult & { serverCores: number; cpuUsPerMessage: number };
  databaseCeiling: InsertRateResult;
  persisted: PersistedRun;
  /** From the database ceiling to the last scaling run: a timed checkpoint in there slows the stage it falls in. */
  checkpoints?: SuiteCheckpoints;
  /** Two gateway processes on Redis, every DM crossing from one to the other (also `scaling[1]`). CPU is both processes together. */
  cluster?: PersistedRun;
  /** The same load through 1, 2 and 4 gateway processes on Redis (see scaledRun). */
  scaling?: ({ processes: number } & PersistedRun)[];
  /** Adding processes to a deployment on Redis, against its one-process run (see scalingRatiosOf). */
  scalingRatios?: ScalingRatio[];
  ratios?: {
    ofRelay: number;
    ofDbInserts: number;
    ofDbSeqTransactions: number;
    /** Gateway CPU per persisted DM over the relay's CPU per relayed message (target ≤ 4). */
    cpuOfRelay?: number;
    clusterOfSingle?: number;
    clusterCpuOfRelay?: number;
  };
}

/** A socket.io client bound to a user (by token for the gateway, by id for the bare relay). */
function openSocket(url: string, auth: Record<string, string>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/** Clients in pairs, each sending to the other. */
function pairLanes(sockets: Socket[], ids: string[]): MessageLane[] {
  const lanes: MessageLane[] = [];
  for (let i = 0; i + 1 < sockets.length; i += 2) {
    lanes.push({ sender: sockets[i], recipient: sockets[i + 1], recipientId: ids[i + 1] });
    lanes.push({ sender: sockets[i + 1], recipient: sockets[i], recipientId: ids[i] });
  }
  return lanes;
}

async function relayCeiling(o: MessagesOptions): Promise<MessagesResult['relayCeiling']> {
  const child = spawn(
    process.execPath,
    [
      // e.g. BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" to profile the ceiling like the gateway.
      ...(process.env.BENCH_RELAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '-r',
      'ts-node/register/transpile-only',
      'bench/ceilings/socketio-relay-server.ts',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l).port));
      child.once('exit', (code) => reject(new Error(`relay server exited with ${code}`)));
    });
    const ids = Array.from({ length: o.clients }, (_, i) => `relay-user-${i}`);
    const sockets = await inBatches(ids, 32, (id) => openSocket(`http://127.0.0.1:${port}`, { userId: id }));
    const result = await runMessageLoad({
      lanes: pairLanes(sockets, ids),
      sendEvent: 'relay:send',
      deliveryEvent: 'relay:new',
      clientMsgIdOf: (p) => p?.message?.clientMsgId,
      window: o.window,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      cpuPids: [child.pid!],
    });
    for (const s of sockets) s.disconnect();
    return { ...result, serverCores: result.cpu!.cores[child.pid!], cpuUsPerMessage: result.cpu!.usPerMessage };
  } finally {
    child.kill('SIGTERM');
    // A profiled ceiling writes its profile on exit.
    await exited;
  }
}

/**
 * Persisted DMs: `senders` send to `receivers` (lane i: senders[i] → receivers[i]),
 * after one probe send proves the path works.
 */
async function persistedRun(
  o: MessagesOptions,
  lanes: MessageLane[],
  window: number,
  cpuPids: number[],
  gatewayUrls: string[],
): Promise<PersistedRun> {
  const probe = await lanes[0].sender.timeout(10_000).emitWithAck('dm:send', {
    to: lanes[0].recipientId,
    clientMsgId: crypto.randomUUID(),
    body: 'probe',
  });
  if (!probe?.ok) return { unavailable: `dm:send refused: ${JSON.stringify(probe?.error)}` };
  const result = await runMessageLoad({
    lanes,
    sendEvent: 'dm:send',
    deliveryEvent: 'dm:new',
    clientMsgIdOf: (p) => p?.message?.clientMsgId,
    window,
    ratePerSec: o.ratePerSec,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    cpuPids,
  });
  const gatewayCores = round(
    cpuPids.reduce((sum, pid) => sum + result.cpu!.cores[pid], 0),
    3,
  );
  const { cores, usPerMessage } = result.cpu!;
  return {
    ...result,
    gatewayCores,
    cpuUsPerMessage: usPerMessage,
    cpuUsPerMessageByProcess: cpuPids.map((pid) => round((usPerMessage * cores[pid]) / gatewayCores, 1)),
    meanBatch: await meanBatchSizes(gatewayUrls),
  };
}

/** Which of a deployment's processes (by index) sender k and its recipient connect to. */
export interface LanePlacement {
  /** How the run is described in the log. */
  name: string;
  of(k: number, processes: number): { sender: number; recipient: number };
}

/** The scaling runs' placement: sender k on process k mod N, its recipient on the next one. */
export const RECIPIENT_ON_NEXT_PROCESS: LanePlacement = {
  name: 'each recipient on the next process',
  of: (k, processes) => ({ sender: k % processes, recipient: (k + 1) % processes }),
};

/** What each gateway process of the scaling runs is started with: a member of a scaled-out deployment whose DM limits the load never reaches. */
export function scaledGatewayEnv(): Record<string, string> {
  return { REDIS_URL: benchRedisUrl(), NODE_ROLE: 'all', DM_RATE_PER_SEC: '1000000', DM_RATE_BURST: '1000000' };
}

/**
 * The same load through `processes` gateway processes (NODE_ROLE=all) on one
 * database and one Redis, configured as every member of a scaled-out
 * deployment is (Redis fan-out, Redis rate limits). Half the clients send,
 * each to its own recipient, placed by `placement`: by default sender k on
 * process k mod N and its recipient on the next one, so with two or more
 * processes every DM crosses Redis; with one it is the deployment a second
 * process is added to.
 */
export async function scaledRun(
  o: MessagesOptions,
  processes: number,
  log: (s: string) => void,
  placement: LanePlacement = RECIPIENT_ON_NEXT_PROCESS,
  /** Run on the new database once migrated, before anyone signs up (diagnostics fill it first). */
  prepareDatabase?: (databaseUrl: string) => Promise<void>,
): Promise<PersistedRun> {
  const env = scaledGatewayEnv();
  const gateways: Awaited<ReturnType<typeof startBenchGateway>>[] = [];
  try {
    gateways.push(await startBenchGateway(env));
    await prepareDatabase?.(gateways[0].db.url);
    while (gateways.length < processes) gateways.push(await startBenchGateway(env, { db: gateways[0].db }));
    const users = await loginUsers(gateways[0].url, o.clients, `msgscale${processes}`);
    const half = Math.floor(o.clients / 2);
    const senders = users.slice(0, half);
    const receivers = users.slice(half, 2 * half);
    const at = (k: number, side: 'sender' | 'recipient') => gateways[placement.of(k, processes)[side]].url;
    const senderSockets = await inBatches(senders, 32, (u, k) => openSocket(at(k, 'sender'), { token: u.token }));
    const receiverSockets = await inBatches(receivers, 32, (u, k) => openSocket(at(k, 'recipient'), { token: u.token }));
    log(
      `persisted DMs through ${processes} gateway process${processes > 1 ? 'es' : ''} on Redis: ${half} senders, ` +
        `${placement.name}, window ${2 * o.window}`,
    );
    const lanes = senders.map((_, i) => ({ sender: senderSockets[i], recipient: receiverSockets[i], recipientId: receivers[i].id }));
    // Half the senders, twice the window: as many messages in flight as the single-process run.
    const run = await persistedRun(
      o,
      lanes,
      2 * o.window,
      gateways.map((g) => g.pid),
      gateways.map((g) => g.url),
    );
    for (const s of [...senderSockets, ...receiverSockets]) s.disconnect();
    disconnectAll(users);
    return run;
  } finally {
    for (const g of gateways.reverse()) await g.close();
  }
}

/** Deployments measured by the scaling runs: one process on Redis, then two and four. */
const SCALED_PROCESSES = [1, 2, 4];

export async function runMessagesBench(o: MessagesOptions, log: (s: string) => void): Promise<MessagesResult> {
  log(`relay ceiling: ${o.clients} clients, window ${o.window}`);
  const relay = await relayCeiling(o);
  log(`  relay: ${relay.deliveredPerSec}/s, p99 ${relay.deliveryLatencyMs.p99} ms, ${relay.cpuUsPerMessage} µs CPU per message`);

  const gw = await startBenchGateway({ DM_RATE_PER_SEC: '1000000', DM_RATE_BURST: '1000000' });
  let out: MessagesResult;
  // The database's stages (ceiling, persisted, scaling) should all meet PostgreSQL as the later ones do.
  const checkpoints = await startAfterCheckpoint();
  try {
    log(`database ceiling: ${o.dbClients} clients`);
    const database = await measureInsertRate(gw.db.url, o.dbClients, Math.max(3, Math.round(o.durationMs / 1000)));
    log(`  inserts ${database.insertsPerSec}/s, seq transactions ${database.seqTransactionsPerSec}/s (${database.tool})`);

    log(`persisted DMs through the gateway: ${o.clients} clients, window ${o.window}`);
    const users = await loginUsers(gw.url, o.clients, 'msgbench');
    const sockets = await inBatches(users, 32, (u) => openSocket(gw.url, { token: u.token }));
    const lanes = pairLanes(
      sockets,
      users.map((u) => u.id),
    );
    const persisted = await persistedRun(o, lanes, o.window, [gw.pid], [gw.url]);
    if ('deliveredPerSec' in persisted) {
      log(
        `  persisted: ${persisted.deliveredPerSec}/s, p99 ${persisted.deliveryLatencyMs.p99} ms, ` +
          `${persisted.cpuUsPerMessage} µs CPU per message, errors ${JSON.stringify(persisted.ackErrors)}, mean batch ${JSON.stringify(persisted.meanBatch)}`,
      );
    } else {
      log(`  persisted: ${persisted.unavailable}`);
    }
    for (const s of sockets) s.disconnect();
    disconnectAll(users);
    out = { options: o, relayCeiling: relay, databaseCeiling: database, persisted };
  } finally {
    await gw.close();
  }
  if (o.cluster) {
    out.scaling = [];
    for (const processes of SCALED_PROCESSES) {
      let run: PersistedRun;
      try {
        run = await scaledRun(o, processes, log);
      } catch (err) {
        run = { unavailable: String((err as Error).message ?? err) };
      }
      out.scaling.push({ processes, ...run });
      if (processes === 2) out.cluster = run;
      log(
        'deliveredPerSec' in run
          ? `  ${processes} on Redis: ${run.deliveredPerSec}/s, p99 ${run.deliveryLatencyMs.p99} ms, ${run.cpuUsPerMessage} µs CPU per message` +
              (run.cpu?.contextSwitchesPerMessage === undefined
                ? ''
                : `, ${run.cpu.contextSwitchesPerMessage} context switches (${run.cpu.preemptionsPerMessage} preempted) and ` +
                  `${run.cpu.ioCallsPerMessage} read/write calls per message, ${run.cpu.systemUsPerMessage} µs of its CPU in the kernel`)
          : `  ${processes} on Redis: not measured: ${run.unavailable}`,
      );
    }
  }
  out.checkpoints = await checkpoints.end();
  logUnplannedCheckpoints(out.checkpoints, CHECKPOINTED_BEFORE.messages, log);
  const persisted = out.persisted;
  if ('deliveredPerSec' in persisted) {
    out.ratios = {
      ofRelay: round(persisted.deliveredPerSec / relay.deliveredPerSec, 3),
      ofDbInserts: round(persisted.deliveredPerSec / out.databaseCeiling.insertsPerSec, 3),
      ofDbSeqTransactions: round(persisted.deliveredPerSec / out.databaseCeiling.seqTransactionsPerSec, 3),
      cpuOfRelay: cpuRatio(persisted.cpuUsPerMessage, relay.cpuUsPerMessage),
    };
    if (out.cluster && 'deliveredPerSec' in out.cluster) {
      out.ratios.clusterOfSingle = round(out.cluster.deliveredPerSec / persisted.deliveredPerSec, 3);
      out.ratios.clusterCpuOfRelay = cpuRatio(out.cluster.cpuUsPerMessage, relay.cpuUsPerMessage);
    }
  }
  if (out.scaling) out.scalingRatios = scalingRatiosOf(out.scaling);
  return out;
}

export interface ScalingRatio {
  processes: number;
  /** The throughput of N processes over one's (target ≥ 1 for two). */
  rate: number;
  /** The CPU per DM of all N over one's (target ≤ 1.3 for two). */
  cpu: number;
  /**
   * The same, each stage's CPU per DM first divided by the load generator's in that stage. The
   * load generator does the same work per DM whatever the placement, so this takes out how fast
   * the machine happened to run in each stage, which on a busy virtual machine moves one stage's
   * cost by a third or more. A reading beside `cpu`; the target is judged on `cpu`.
   */
  cpuAgainstLoadGenerator?: number;
}

/** Each run of more than one process against the one-process run; none when that run failed. */
export function scalingRatiosOf(scaling: ({ processes: number } & PersistedRun)[]): ScalingRatio[] | undefined {
  const one = scaling.find((r) => r.processes === 1);
  if (!one || !('deliveredPerSec' in one)) return undefined;
  const gauged = (r: typeof one) =>
    r.machine && r.machine.loadGeneratorUsPerOp > 0 ? r.cpuUsPerMessage / r.machine.loadGeneratorUsPerOp : undefined;
  return scaling.flatMap((r) => {
    if (r.processes === 1 || !('deliveredPerSec' in r)) return [];
    const ratio: ScalingRatio = {
      processes: r.processes,
      rate: round(r.deliveredPerSec / one.deliveredPerSec, 3),
      cpu: cpuRatio(r.cpuUsPerMessage, one.cpuUsPerMessage),
    };
    const [mine, ones] = [gauged(r), gauged(one)];
    if (mine !== undefined && ones !== undefined) ratio.cpuAgainstLoadGenerator = cpuRatio(mine, ones);
    return [ratio];
  });
}
