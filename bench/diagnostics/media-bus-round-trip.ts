/**
 * What one request over the media bus costs, apart from the media work it
 * asks for: a requester process and a node process on Redis, the node
 * answering every request at once with a reply of REPLY_BYTES, one request
 * at a time. Prints, per round, the round trip's wall time and the CPU
 * each side spent per request (and of it in the kernel).
 *
 * A call set-up whose room is on a separate media node makes three such
 * requests and one push: this says how much of the separate node's cost is
 * the bus itself, on a machine quiet enough to read it.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/media-bus-round-trip.ts
 *   (N=<requests per round>, default 3000; ROUNDS=<n>, default 3; REPLY_BYTES=<n>, default 200;
 *   BENCH_REDIS_URL, default redis://127.0.0.1:6379)
 */
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import pino from 'pino';
import { RedisMediaBus } from '@app/media-routing';
import { benchRedisUrl } from '../support/gateway-process';
import { numberSetting } from '../support/env-settings';

const REDIS_URL = benchRedisUrl();
const SILENT = pino({ level: 'silent' });
const WARMUP_REQUESTS = 500;

type FromNode = { nodeId: string } | { cpu: NodeJS.CpuUsage };

/** The node's side: answers each request with the same reply, and its CPU when asked. */
async function node(serviceKey: string): Promise<void> {
  const reply = { padding: 'x'.repeat(numberSetting('REPLY_BYTES', 200, { whole: true, min: 0 })) };
  const bus = await RedisMediaBus.connect(REDIS_URL, serviceKey, SILENT);
  await bus.serve(async () => reply);
  process.send!({ nodeId: bus.localNodeId } satisfies FromNode);
  process.on('message', () => process.send!({ cpu: process.cpuUsage() } satisfies FromNode));
  process.on('disconnect', () => void bus.close().then(() => process.exit(0)));
}

async function requester(): Promise<void> {
  const serviceKey = `diag-${crypto.randomBytes(4).toString('hex')}`;
  const child = fork(__filename, ['node', serviceKey], { execArgv: process.execArgv });
  const next = () => new Promise<FromNode>((resolve) => child.once('message', (m: FromNode) => resolve(m)));
  const started = (await next()) as { nodeId: string };
  const nodeCpu = async () => {
    const answer = next();
    child.send('cpu');
    return ((await answer) as { cpu: NodeJS.CpuUsage }).cpu;
  };
  const bus = await RedisMediaBus.connect(REDIS_URL, serviceKey, SILENT);
  const request = (i: number) => bus.request(started.nodeId, { method: 'ping', args: [{ n: i }] }, 5_000);
  try {
    for (let i = 0; i < WARMUP_REQUESTS; i++) await request(i);
    const n = numberSetting('N', 3_000, { whole: true, min: 1 });
    console.log('round | round trip µs | requester CPU µs (kernel) | node CPU µs (kernel), per request');
    const rounds = numberSetting('ROUNDS', 3, { whole: true, min: 1 });
    for (let round = 1; round <= rounds; round++) {
      const nodeBefore = await nodeCpu();
      const before = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await request(i);
      const wallUs = ((performance.now() - t0) * 1000) / n;
      const mine = process.cpuUsage(before);
      const nodeAfter = await nodeCpu();
      const per = (user: number, system: number) => `${Math.round((user + system) / n)} (${Math.round(system / n)})`;
      console.log(
        `${round} | ${Math.round(wallUs)} | ${per(mine.user, mine.system)} | ` +
          per(nodeAfter.user - nodeBefore.user, nodeAfter.system - nodeBefore.system),
      );
    }
  } finally {
    await bus.close();
    child.disconnect();
  }
}

(process.argv[2] === 'node' ? node(process.argv[3]) : requester()).catch((err) => {
  console.error(err);
  process.exit(1);
});
