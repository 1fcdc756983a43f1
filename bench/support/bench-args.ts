/** The benchmark command line: `npm run bench -- --help`. */
import { parseArgs } from 'node:util';
import { parseNumberSetting } from './env-settings';

/** Suite names for --only, with what each measures (the order they run in). */
export const SUITES = {
  messages:
    'persisted DM throughput, delivery latency and CPU per message, in one gateway process and across two (Redis), beside a bare socket.io relay and the database insert rate',
  'call-setup': 'time from call:invite to the first audio packet at the callee, in one process and with the room on a media node',
  recovery: 'time until the audio of active calls is back after their media node is killed',
  calls: 'concurrent Opus calls one mediasoup worker carries through the gateway, beside a bare 3.12 and a bare 3.8.4 worker',
  idle: 'memory per idle connected socket',
  'video-cost':
    'SFU worker CPU per call-second and bytes per call-minute of voice calls and of video calls side by side, bare worker and through the gateway',
} as const;
export type SuiteName = keyof typeof SUITES;

/** The environment variables the suites read, with what each changes (listed by --help). */
export const BENCH_ENVIRONMENT = {
  BENCH_REDIS_URL: "the Redis the suites' processes share (default redis://127.0.0.1:6379)",
  BENCH_SETUP_WARMUP_CALLS: 'call set-ups run before the measured ones (default 1000, --quick 20)',
  BENCH_SETUP_THREADS_BY_REQUEST:
    "1: also read how long each main thread ran around each set-up request (adds a little to the set-up's total)",
  BENCH_GATEWAY_FROM_SOURCE: '1: run the gateways and media nodes from the TypeScript sources under ts-node, not the build',
  BENCH_GATEWAY_NODE_ARGS: 'more Node flags for the gateways and media nodes, e.g. "--cpu-prof --cpu-prof-dir=prof"',
  BENCH_GATEWAY_ENV:
    'settings for the gateways and media nodes over the suites\' own, NAME=value pairs, comma-separated, e.g. "MEDIA_HEARTBEAT_MS=5000,MEDIA_HEARTBEAT_TTL_MS=10000"',
  BENCH_RELAY_NODE_ARGS: "more Node flags for the bare socket.io relay of the messages suite's ceiling",
} as const;

export const BENCH_USAGE = `Usage: npm run bench -- [--quick] [--only NAME[,NAME...]]

Measures the backend beside the ceilings of the parts it is built on. Each
suite starts what it needs (a gateway process on a fresh database) and stops
it. Results: bench/results/<time>.json and bench/results/latest.md.

Options:
  --quick         shorter runs with smaller loads
  --only NAMES    run only these suites, comma-separated:
${Object.entries(SUITES)
  .map(([name, what]) => `                    ${name.padEnd(11)} ${what}`)
  .join('\n')}
  -h, --help      show this help

Environment:
${Object.entries(BENCH_ENVIRONMENT)
  .map(([name, what]) => `  ${name}\n                  ${what}`)
  .join('\n')}
`;

/** The command line, checked: unknown options or suite names stop the run with a message (exit 2). */
export function parseBenchArgs(argv: string[]): { quick: boolean; only?: Set<SuiteName>; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  let only: Set<SuiteName> | undefined;
  if (values.only !== undefined) {
    const names = values.only
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const unknown = names.filter((n) => !(n in SUITES));
    if (names.length === 0 || unknown.length > 0) {
      throw new Error(
        `--only: unknown suite ${unknown.map((n) => JSON.stringify(n)).join(', ') || '(none given)'}; ` +
          `known: ${Object.keys(SUITES).join(', ')}`,
      );
    }
    only = new Set(names as SuiteName[]);
  }
  return { quick: values.quick ?? false, only, help: values.help ?? false };
}

/**
 * Call set-ups before the measured ones, so that V8 has optimised most of every process's call path (a
 * gateway's, a media node's) as in a long-running one. After 20, as before, TurboFan was still
 * compiling in the measured set-ups (13–15 % of the gateway's and the node's CPU there) and their
 * code ran mostly unoptimised; after 1,000 their CPU per set-up was 35–45 % lower. A quick run only
 * checks that set-ups work. BENCH_SETUP_WARMUP_CALLS sets another count (20 measures as earlier runs did).
 */
export function setupWarmupCalls(quick: boolean, value = process.env.BENCH_SETUP_WARMUP_CALLS): number {
  return parseNumberSetting('BENCH_SETUP_WARMUP_CALLS', value, quick ? 20 : 1_000, { whole: true, min: 0 });
}
