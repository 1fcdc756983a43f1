import fs from 'node:fs';
import path from 'node:path';
import { BareMediasoupTopology } from '../ceilings/bare-mediasoup';
import type { CallTopology } from '../support/call-topology';
import { GatewayCallTopology } from '../support/gateway-call-topology';
import { LatencySummary, round } from '../support/latency-samples';
import { CpuMeter, mib, rssBytes } from '../support/process-usage';
import { RtpGenerator } from '../support/rtp-generator';
import { percent } from '../support/run-targets';

/** A call step passes with less loss than this and a one-way p99 under MAX_P99_MS. */
export const MAX_LOSS = 0.005;
export const MAX_P99_MS = 20;

export interface ConcurrentCallsOptions {
  steps: number[];
  bareSteps: number[];
  measureMs: number;
  generatorThreads?: number;
}

export interface CallStepResult {
  calls: number;
  streams: number;
  packetsPerSec: number;
  sent: number;
  received: number;
  lossRatio: number;
  /** Where packets went missing: before the SFU counted them, inside it, after it sent them. */
  lossBreakdown: { beforeSfu: number; insideSfu: number; afterSfu: number };
  latencyMs: LatencySummary;
  workerCores: number;
  /** Worker CPU per call: microseconds of CPU per second of one call. */
  workerCpuUsPerCallSecond: number;
  loadGeneratorCores: number;
  workerRssMiB: number;
  workerRssPerCallKiB: number;
  passed: boolean;
}

export interface RampResult {
  topology: string;
  steps: CallStepResult[];
  maxPassingCalls: number;
  /** The first step that failed and why, if any. */
  limitedBy?: string;
}

export interface ConcurrentCallsResult {
  criteria: { maxLoss: number; maxP99Ms: number };
  bare: RampResult;
  /** The same ramp on the previous SFU release (3.8.4), for the upgrade's cost or gain per call. */
  bareLegacy?: RampResult | { unavailable: string };
  gateway: RampResult | { unavailable: string };
}

async function ramp(
  topology: CallTopology,
  generator: RtpGenerator,
  steps: number[],
  measureMs: number,
  log: (s: string) => void,
): Promise<RampResult> {
  const rssAtStart = rssBytes(topology.workerPid());
  const results: CallStepResult[] = [];
  let limitedBy: string | undefined;
  for (const target of steps) {
    await topology.addCalls(target - topology.calls());
    const before = await topology.counters();
    const cpu = new CpuMeter([topology.workerPid(), process.pid]).start();
    const run = await generator.run(topology.streams(), { warmupMs: 2000, durationMs: measureMs, drainMs: 1000 });
    const cores = cpu.stop();
    const after = await topology.counters();
    const sfuIn = after.producerPackets - before.producerPackets;
    const sfuOut = after.consumerPackets - before.consumerPackets;
    const rss = rssBytes(topology.workerPid());
    const step: CallStepResult = {
      calls: target,
      streams: run.streams,
      packetsPerSec: Math.round(run.streams * 50),
      sent: run.sent,
      received: run.received,
      lossRatio: run.lossRatio,
      lossBreakdown: {
        beforeSfu: round(1 - sfuIn / run.sent, 5),
        insideSfu: round(sfuIn === 0 ? 0 : 1 - sfuOut / sfuIn, 5),
        afterSfu: round(sfuOut === 0 ? 0 : 1 - run.received / sfuOut, 5),
      },
      latencyMs: run.latencyMs,
      workerCores: cores[topology.workerPid()],
      workerCpuUsPerCallSecond: round((cores[topology.workerPid()] * 1e6) / target, 1),
      loadGeneratorCores: cores[process.pid],
      workerRssMiB: mib(rss),
      workerRssPerCallKiB: round((rss - rssAtStart) / target / 1024, 1),
      passed: run.lossRatio < MAX_LOSS && run.latencyMs.p99 < MAX_P99_MS,
    };
    results.push(step);
    log(
      `  ${topology.label}: ${target} calls, loss ${percent(step.lossRatio, 3)} ` +
        `(before/inside/after SFU ${JSON.stringify(step.lossBreakdown)}), p50/p99 ${step.latencyMs.p50}/${step.latencyMs.p99} ms, ` +
        `worker ${step.workerCores} cores, generator ${step.loadGeneratorCores} cores`,
    );
    if (!step.passed) {
      limitedBy =
        step.lossRatio >= MAX_LOSS
          ? `loss ${percent(step.lossRatio, 2)} at ${target} calls`
          : `p99 ${step.latencyMs.p99} ms at ${target} calls`;
      break;
    }
  }
  const passing = results.filter((r) => r.passed).map((r) => r.calls);
  return { topology: topology.label, steps: results, maxPassingCalls: passing.length ? Math.max(...passing) : 0, limitedBy };
}

export async function runConcurrentCallsBench(o: ConcurrentCallsOptions, log: (s: string) => void): Promise<ConcurrentCallsResult> {
  const generator = await RtpGenerator.start(o.generatorThreads ?? 2);
  try {
    log(`concurrent calls, bare worker: steps ${o.bareSteps.join(', ')}`);
    const bareTopology = await BareMediasoupTopology.start(generator.ports);
    let bare: RampResult;
    try {
      bare = await ramp(bareTopology, generator, o.bareSteps, o.measureMs, log);
    } finally {
      await bareTopology.close();
    }
    let bareLegacy: ConcurrentCallsResult['bareLegacy'];
    const legacy = loadLegacyMediasoup();
    if ('unavailable' in legacy) bareLegacy = legacy;
    else {
      log(`concurrent calls, bare ${legacy.version} worker: steps ${o.bareSteps.join(', ')}`);
      const legacyTopology = await BareMediasoupTopology.start(generator.ports, { min: 20000, max: 29999 }, legacy);
      try {
        bareLegacy = await ramp(legacyTopology, generator, o.bareSteps, o.measureMs, log);
      } finally {
        await legacyTopology.close();
      }
    }
    log(`concurrent calls through the gateway: steps ${o.steps.join(', ')}`);
    let gateway: ConcurrentCallsResult['gateway'];
    let gatewayTopology: CallTopology | undefined;
    try {
      gatewayTopology = await GatewayCallTopology.start(generator.ports, log);
      gateway = await ramp(gatewayTopology, generator, o.steps, o.measureMs, log);
    } catch (err) {
      gateway = { unavailable: String((err as Error).message ?? err) };
      log(`  gateway ramp failed: ${(err as Error).stack}`);
    } finally {
      await gatewayTopology?.close();
    }
    return { criteria: { maxLoss: MAX_LOSS, maxP99Ms: MAX_P99_MS }, bare, bareLegacy, gateway };
  } finally {
    await generator.close();
  }
}

/** mediasoup 3.8.4 under its alias, when its worker was built (`node scripts/setup.js --legacy-mediasoup`). */
function loadLegacyMediasoup(): { createWorker: typeof import('mediasoup').createWorker; version: string } | { unavailable: string } {
  try {
    // Loaded only when asked for: the package is an optional comparison, absent on most machines.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require('mediasoup-legacy');
    const bin = path.join(require.resolve('mediasoup-legacy/package.json'), '..', 'worker', 'out', 'Release', 'mediasoup-worker');
    if (!fs.existsSync(bin)) return { unavailable: 'the 3.8.4 worker is not built (node scripts/setup.js --legacy-mediasoup)' };
    return lib;
  } catch (err) {
    return { unavailable: `mediasoup-legacy not installed: ${(err as Error).message}` };
  }
}
