import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { io, Socket } from 'socket.io-client';
import { inBatches, loginUsers } from '../support/bench-users';
import { startBenchGateway } from '../support/gateway-process';
import { sleep } from '@app/client';
import { HeapInspector, INSPECTOR_NODE_ARGS } from '@app/harness';
import { cpuPerOp, cpuRatio, mib, rssBytes, sampleCpu, usageAtRest } from '../support/process-usage';

export interface IdleSocketsResult {
  sockets: number;
  /** The same number of sockets on a bare socket.io server (no Nest, no auth): the floor. */
  bareSocketIoRssPerSocketKiB: number;
  /** Server CPU per socket while they connect (handshake, auth, room join), gateway and bare socket.io. */
  connectCpuUsPerSocket: number;
  bareSocketIoConnectCpuUsPerSocket: number;
  /** connectCpuUsPerSocket over the bare server's. */
  connectCpuOfBare: number;
  connectSeconds: number;
  gatewayRssBeforeMiB: number;
  gatewayRssAfterMiB: number;
  rssPerSocketKiB: number;
  heapUsedPerSocketKiB: number;
  /**
   * What the gateway retains per socket: live JS heap plus external memory, each read right after
   * forced full collections (through the inspector), so collector timing cannot make it swing or
   * go negative as RSS does. The figure the ≤ 12 KiB target is judged on.
   */
  retainedPerSocketKiB: number;
  liveHeapPerSocketKiB: number;
  externalPerSocketKiB: number;
  healthAfter: number;
  /**
   * The gateway at rest (users signed in, no socket connected), over REST_SECONDS: the CPU all its
   * threads use per second, and how often they are switched out per second (each a wake-up for a
   * timer or a read). Absent in results written before.
   */
  atRest?: { cpuMsPerSecond: number; switchesPerSecond: number };
}

const REST_SECONDS = 5;

/** A process metric from /metrics, whatever METRICS_PREFIX the gateway runs with. */
async function processMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?${name} (\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const heapUsed = (url: string) => processMetric(url, 'nodejs_heap_size_used_bytes');

/** Live heap and external memory right after full collections (two: the first may leave finalised objects). */
async function retained(url: string, inspector: HeapInspector): Promise<{ heap: number; external: number }> {
  await inspector.collectGarbage();
  await inspector.collectGarbage();
  return { heap: await heapUsed(url), external: await processMetric(url, 'nodejs_external_memory_bytes') };
}

function openSocket(url: string, auth: Record<string, string>): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/** RSS per idle socket on the bare socket.io relay server (bench/ceilings). */
async function bareSocketIoPerSocket(n: number): Promise<{ rssKiB: number; connectCpuUs: number }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/ceilings/socketio-relay-server.ts'], {
    cwd: path.resolve(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const sockets: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve) =>
      readline.createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l).port)),
    );
    await sleep(2000);
    const before = rssBytes(child.pid!);
    const cpuBefore = sampleCpu([child.pid!]);
    await inBatches(
      Array.from({ length: n }, (_, i) => i),
      64,
      async (i) => sockets.push(await openSocket(`http://127.0.0.1:${port}`, { userId: `idle-${i}` })),
    );
    const connectCpuUs = cpuPerOp(cpuBefore, sampleCpu([child.pid!]), n);
    await sleep(5000);
    return { rssKiB: Math.round(((rssBytes(child.pid!) - before) / n / 1024) * 10) / 10, connectCpuUs };
  } finally {
    for (const s of sockets) s.disconnect();
    child.kill('SIGTERM');
  }
}

/** Memory the gateway spends per connected, idle, authenticated socket. */
export async function runIdleSocketsBench(n: number, log: (s: string) => void): Promise<IdleSocketsResult> {
  log(`idle sockets: ${n} on a bare socket.io server`);
  const bare = await bareSocketIoPerSocket(n);
  log(`  ${bare.rssKiB} KiB per socket, ${bare.connectCpuUs} µs CPU per connect`);
  const gw = await startBenchGateway({}, undefined, { nodeArgs: INSPECTOR_NODE_ARGS });
  const inspector = await HeapInspector.attach(gw.startupLog());
  const sockets: Socket[] = [];
  try {
    log(`idle sockets: signing in ${n} users`);
    const users = await loginUsers(gw.url, n, 'idle', 32);
    await sleep(3000);
    const [{ cpuMsPerSecond, switchesPerSecond }] = await usageAtRest([gw.pid], REST_SECONDS);
    const rest = { cpuMsPerSecond, switchesPerSecond };
    log(`  at rest: ${rest.cpuMsPerSecond} ms of CPU and ${rest.switchesPerSecond} thread switches per second`);
    const rssBefore = rssBytes(gw.pid);
    const heapBefore = await heapUsed(gw.url);
    const retainedBefore = await retained(gw.url, inspector);
    const t0 = performance.now();
    const cpuBefore = sampleCpu([gw.pid]);
    await inBatches(users, 64, async (u) => sockets.push(await openSocket(gw.url, { token: u.token })));
    const connectCpuUsPerSocket = cpuPerOp(cpuBefore, sampleCpu([gw.pid]), n);
    const connectSeconds = (performance.now() - t0) / 1000;
    log(`  ${n} sockets connected in ${connectSeconds.toFixed(1)} s, ${connectCpuUsPerSocket} µs gateway CPU per connect`);
    await sleep(5000);
    const rssAfter = rssBytes(gw.pid);
    const heapAfter = await heapUsed(gw.url);
    const retainedAfter = await retained(gw.url, inspector);
    const perSocketKiB = (bytes: number) => Math.round((bytes / n / 1024) * 10) / 10;
    const liveHeapPerSocketKiB = perSocketKiB(retainedAfter.heap - retainedBefore.heap);
    const externalPerSocketKiB = perSocketKiB(retainedAfter.external - retainedBefore.external);
    log(`  retained per socket: ${liveHeapPerSocketKiB} KiB live heap + ${externalPerSocketKiB} KiB external (after forced collections)`);
    const health = (await fetch(`${gw.url}/health`)).status;
    return {
      sockets: n,
      bareSocketIoRssPerSocketKiB: bare.rssKiB,
      connectCpuUsPerSocket,
      bareSocketIoConnectCpuUsPerSocket: bare.connectCpuUs,
      connectCpuOfBare: cpuRatio(connectCpuUsPerSocket, bare.connectCpuUs),
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      gatewayRssBeforeMiB: mib(rssBefore),
      gatewayRssAfterMiB: mib(rssAfter),
      rssPerSocketKiB: Math.round(((rssAfter - rssBefore) / n / 1024) * 10) / 10,
      heapUsedPerSocketKiB: Math.round(((heapAfter - heapBefore) / n / 1024) * 10) / 10,
      retainedPerSocketKiB: Math.round((liveHeapPerSocketKiB + externalPerSocketKiB) * 10) / 10,
      liveHeapPerSocketKiB,
      externalPerSocketKiB,
      healthAfter: health,
      atRest: rest,
    };
  } finally {
    for (const s of sockets) s.disconnect();
    inspector.close();
    await gw.close();
  }
}
