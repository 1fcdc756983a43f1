import type { ChildProcess } from 'node:child_process';
import { createScratchDatabase, freePort, harnessEnv, ScratchDatabase, spawnGatewayFromBuild, spawnGatewayFromSource } from '@app/harness';

export interface BenchGateway {
  url: string;
  pid: number;
  db: ScratchDatabase;
  child: ChildProcess;
  /** What the process wrote to stderr at start (its inspector's address, when started with one). */
  startupLog(): string[];
  /** pids of the mediasoup workers, from /health. */
  workerPids(): Promise<number[]>;
  close(): Promise<void>;
}

/** The Redis every process a suite starts shares: BENCH_REDIS_URL, or this machine's. */
export function benchRedisUrl(): string {
  return process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
}

/** Settings each process gets from startBenchGateway itself: its scratch database and its own port. */
const PER_PROCESS_SETTINGS = new Set(['DATABASE_URL', 'PORT']);

/**
 * BENCH_GATEWAY_ENV's settings (NAME=value pairs, comma-separated), given
 * to every gateway and media node a suite starts, over the suite's own: to
 * measure the same load with a setting changed. Throws on a pair that is not
 * NAME=value, or that names a setting each process gets of its own.
 */
export function benchGatewayEnv(list = process.env.BENCH_GATEWAY_ENV ?? ''): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const item of list.split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`BENCH_GATEWAY_ENV: "${item}" is not NAME=value`);
    const name = item.slice(0, eq);
    if (PER_PROCESS_SETTINGS.has(name)) throw new Error(`BENCH_GATEWAY_ENV: ${name} is set by the benchmark for each process`);
    settings[name] = item.slice(eq + 1);
  }
  return settings;
}

/**
 * The gateway as its own OS process on a fresh database, silent logs, so its
 * CPU and memory can be read apart from the load generator's. Ready when
 * /health answers. It runs the compiled build, as `npm start` does (`npm run
 * bench` compiles it first when its sources changed; bench/run.ts started
 * by hand runs whatever build is there); BENCH_GATEWAY_FROM_SOURCE=1 runs
 * the sources under ts-node instead, as the earlier runs in
 * bench/RESULTS.md did.
 */
export async function startBenchGateway(
  env: Record<string, string> = {},
  shared?: { db: ScratchDatabase },
  options: { nodeArgs?: string[] } = {},
): Promise<BenchGateway> {
  // Read before the database is made, so a bad setting leaves nothing behind.
  const settings = { LOG_LEVEL: 'silent', ...env, ...benchGatewayEnv() };
  // Processes of one service (a media node beside a gateway) share a database; the first one owns it.
  const db = shared?.db ?? (await createScratchDatabase());
  const port = await freePort();
  const spawnGateway = process.env.BENCH_GATEWAY_FROM_SOURCE === '1' ? spawnGatewayFromSource : spawnGatewayFromBuild;
  const child = spawnGateway(
    [
      // e.g. BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" to profile the gateway under load.
      ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(options.nodeArgs ?? []),
    ],
    harnessEnv(db.url, { ...settings, PORT: String(port) }),
    ['ignore', 'ignore', 'pipe'],
  );
  let stderr = '';
  let startup = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
    if (startup.length < 4000) startup += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`gateway did not become healthy: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid!,
    db,
    child,
    startupLog: () => startup.split('\n'),
    workerPids: async () => {
      const body = (await (await fetch(`${url}/health`)).json()) as { workers?: { pid: number }[] };
      return (body.workers ?? []).map((w) => w.pid).filter((p) => p > 0);
    },
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const forced = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(forced);
      }
      if (!shared) await db.drop();
    },
  };
}
