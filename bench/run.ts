/**
 * Benchmarks: `npm run bench [-- --quick] [-- --only messages,idle,...]`.
 * Each suite starts what it needs (gateway child process on a fresh database,
 * ceilings) and stops it. Results: bench/results/<time>.json and latest.md.
 * Never part of `npm test`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_USAGE, parseBenchArgs, setupWarmupCalls, SuiteName } from './support/bench-args';
import { benchExitCode, renderMarkdown, resultsJson, SuiteResults } from './support/results-report';
import { runMessagesBench } from './suites/messages';
import { runIdleSocketsBench } from './suites/idle-sockets';
import { runCallSetupBench } from './suites/call-setup';
import { runConcurrentCallsBench } from './suites/concurrent-calls';
import { runMediaRecoveryBench } from './suites/media-recovery';
import { runVideoCostBench } from './suites/video-cost';
import { benchGatewayEnv } from './support/gateway-process';

let parsed: ReturnType<typeof parseBenchArgs>;
let warmupCalls: number;
try {
  parsed = parseBenchArgs(process.argv.slice(2));
  warmupCalls = setupWarmupCalls(parsed.quick);
  benchGatewayEnv();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n\n${BENCH_USAGE}`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(BENCH_USAGE);
  process.exit(0);
}
const { quick, only } = parsed;
const wanted = (name: SuiteName) => only === undefined || only.has(name);
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

async function main(): Promise<number> {
  const started = new Date();
  const results: SuiteResults = {
    startedAt: started.toISOString(),
    quick,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '?',
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
  };
  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const save = () => {
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    fs.writeFileSync(path.join(resultsDir, `${stamp}.json`), resultsJson(results));
    fs.writeFileSync(path.join(resultsDir, 'latest.md'), renderMarkdown(results));
  };
  // A suite that fails is recorded and the others still run.
  const attempt = async <K extends keyof SuiteResults>(key: K, fn: () => Promise<SuiteResults[K]>) => {
    try {
      results[key] = await fn();
    } catch (err) {
      log(`${String(key)} failed: ${(err as Error).stack ?? err}`);
      (results.failures ??= {})[String(key)] = String((err as Error).message ?? err);
    }
    save();
  };

  if (wanted('messages')) {
    await attempt('messages', () =>
      runMessagesBench(
        quick
          ? { clients: 20, window: 8, warmupMs: 1000, durationMs: 3000, dbClients: 8, cluster: true }
          : { clients: 40, window: 4, warmupMs: 3000, durationMs: 15_000, dbClients: 8, cluster: true },
        log,
      ),
    );
  }
  if (wanted('call-setup')) {
    const setups = { calls: quick ? 20 : 100, warmupCalls };
    await attempt('callSetup', () => runCallSetupBench(setups, log));
    await attempt('callSetupSplit', () => runCallSetupBench({ ...setups, topology: 'split' }, log));
  }
  if (wanted('recovery')) {
    await attempt('mediaRecovery', () => runMediaRecoveryBench({ calls: quick ? 10 : 50 }, log));
  }
  if (wanted('calls')) {
    await attempt('concurrentCalls', () =>
      runConcurrentCallsBench(
        quick
          ? { steps: [50, 100], measureMs: 3000, bareSteps: [100, 200] }
          : { steps: [100, 200, 300, 400, 500, 600], measureMs: 10_000, bareSteps: [100, 200, 300, 400, 500, 600, 700, 800] },
        log,
      ),
    );
  }
  if (wanted('idle')) {
    await attempt('idleSockets', () => runIdleSocketsBench(quick ? 500 : 5000, log));
  }
  if (wanted('video-cost')) {
    await attempt('videoCost', () =>
      runVideoCostBench(quick ? { calls: 3, warmupMs: 3000, measureMs: 4000 } : { calls: 10, warmupMs: 3000, measureMs: 10_000 }, log),
    );
    // Half a comparison is a failed suite: the bare worker's numbers are kept, the run fails.
    const gateway = results.videoCost?.gateway;
    if (gateway && 'unavailable' in gateway) (results.failures ??= {}).videoCostGateway = gateway.unavailable;
  }
  results.finishedAt = new Date().toISOString();
  save();
  process.stdout.write(renderMarkdown(results));
  return benchExitCode(results);
}

// A suite that failed makes the run fail (after the others ran and the results were written).
main().then(
  (code) => process.exit(code),
  (err) => {
    log(String(err?.stack ?? err));
    process.exit(1);
  },
);
