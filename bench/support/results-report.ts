import type { MessagesResult, PersistedRun } from '../suites/messages';
import type { IdleSocketsResult } from '../suites/idle-sockets';
import type { CallSetupResult, RequestThreadsMs } from '../suites/call-setup';
import type { ConcurrentCallsResult, RampResult } from '../suites/concurrent-calls';
import type { MediaRecoveryResult } from '../suites/media-recovery';
import type { CallCost, KindPair, VideoCostResult } from '../suites/video-cost';
import { CHECKPOINTED_BEFORE, describeCheckpoints, SuiteCheckpoints } from './database-checkpoints';
import { describeCpuBeside, describeMachineBusy, MachineCpuUse } from './machine-usage';
import type { MainThreadTime } from './process-usage';
import { LIMITS, percent, routedExtraMs, targetReadings, targetsSection } from './run-targets';

export interface SuiteResults {
  startedAt: string;
  finishedAt?: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string };
  messages?: MessagesResult;
  callSetup?: CallSetupResult;
  /** The same set-up through a gateway whose rooms are on a media node in another process. */
  callSetupSplit?: CallSetupResult;
  mediaRecovery?: MediaRecoveryResult;
  concurrentCalls?: ConcurrentCallsResult;
  idleSockets?: IdleSocketsResult;
  videoCost?: VideoCostResult;
  failures?: Record<string, string>;
}

const pct = (r: number) => percent(r, 2);

/** The gateway's own time per set-up request (mean over the measured calls), beside the round trips. */
function handlingRows(cs: {
  byRequest: Record<string, unknown>;
  handlingMs?: Record<string, number>;
  mainThreadRunningMsByRequest?: Record<string, RequestThreadsMs>;
}): string[] {
  const handling = cs.handlingMs ?? {};
  const threads = cs.mainThreadRunningMsByRequest ?? {};
  return Object.keys(cs.byRequest).flatMap((step) => [
    ...(handling[step] === undefined ? [] : [`| · ${step}: the gateway's own time, mean | ${handling[step]} | |`]),
    ...(threads[step] === undefined ? [] : [requestThreadsRow(step, threads[step])]),
  ]);
}

/** What the main threads ran during one kind of set-up request (BENCH_SETUP_THREADS_BY_REQUEST=1). */
function requestThreadsRow(step: string, { gateway, mediaNode, loadGenerator }: RequestThreadsMs): string {
  const [whose, ms] = mediaNode === undefined ? ['gateway', [gateway]] : ['gateway / media node', [gateway, mediaNode]];
  return `| · ${step}: main threads running, mean: ${whose} / load generator | ${[...ms, loadGenerator].join(' / ')} | |`;
}

/** A process's main thread per set-up, when the run read it. */
function mainThreadRows(mainThread?: MainThreadTime, whose = 'its'): string[] {
  return mainThread
    ? [`| · ${whose} main thread per set-up: running / waiting for a core (ms) | ${mainThread.running} / ${mainThread.waitingForCore} | |`]
    : [];
}

/** The gateway's CPU per call: the set-up and the end apart when measured so, and the whole loop. */
function gatewayCpuRows(cs: {
  gatewayCpuMsPerCall: number;
  gatewayCpuMsPerSetup?: number;
  gatewayCpuMsPerHangup?: number;
  gatewayMainThreadMsPerSetup?: MainThreadTime;
  loadGeneratorMainThreadMsPerSetup?: MainThreadTime;
}): string[] {
  if (cs.gatewayCpuMsPerSetup === undefined)
    return [`| gateway CPU per call set-up (ms, not a percentile) | ${cs.gatewayCpuMsPerCall} | |`];
  return [
    `| gateway CPU per call set-up, invite → first audio (ms, not a percentile) | ${cs.gatewayCpuMsPerSetup} | |`,
    ...mainThreadRows(cs.gatewayMainThreadMsPerSetup),
    ...mainThreadRows(cs.loadGeneratorMainThreadMsPerSetup, "the load generator's (both clients, counted in the server share)"),
    `| gateway CPU per call end, hangup → call entry heard (ms) | ${cs.gatewayCpuMsPerHangup} | |`,
    `| gateway CPU per call over the whole loop (ms) | ${cs.gatewayCpuMsPerCall} | |`,
  ];
}

function perCallOfBare(calls: number, usPerCall: number | undefined, bare?: RampResult): string {
  if (usPerCall === undefined || !bare || bare.steps.length === 0) return '';
  const ref = bare.steps.reduce((best, s) => (Math.abs(s.calls - calls) < Math.abs(best.calls - calls) ? s : best));
  return ref.workerCpuUsPerCallSecond ? ` (${(usPerCall / ref.workerCpuUsPerCallSecond).toFixed(2)}×)` : '';
}

function rampRows(r: RampResult, bare?: RampResult): string[] {
  return r.steps.map(
    (s) =>
      `| ${r.topology} | ${s.calls} | ${s.packetsPerSec} | ${pct(s.lossRatio)} (${pct(s.lossBreakdown.beforeSfu)} / ${pct(
        s.lossBreakdown.insideSfu,
      )} / ${pct(s.lossBreakdown.afterSfu)}) | ${s.latencyMs.p50} / ${s.latencyMs.p99} | ${s.workerCores} | ${s.workerCpuUsPerCallSecond ?? ''}${
        bare && r !== bare ? perCallOfBare(s.calls, s.workerCpuUsPerCallSecond, bare) : ''
      } | ${s.loadGeneratorCores} | ${s.workerRssPerCallKiB} | ${s.passed ? 'yes' : 'no'} |`,
  );
}

/** A paragraph on a suite's checkpoints; none for results written before they were recorded. */
function checkpointsLine(c: SuiteCheckpoints | undefined, stages: string): string[] {
  return c ? ['', `PostgreSQL checkpoints: ${describeCheckpoints(c, stages)}.`] : [];
}

/** A paragraph on the machine over a call set-up loop; none for results written before it was recorded. */
function callsMachineLine(use: MachineCpuUse | undefined): string[] {
  if (!use) return [];
  return [
    '',
    `The machine over the calls: ${describeMachineBusy(use)}; ms of CPU per call of the load generator and the services: ${describeCpuBeside(use, 1000, 2)}.`,
  ];
}

/** `npm run bench` fails (exit 1) when any suite failed, so CI notices; the others' results are still written. */
export function benchExitCode(r: SuiteResults): number {
  return r.failures && Object.keys(r.failures).length > 0 ? 1 : 0;
}

/**
 * A run's JSON file: its results and, for scripts that read the file without this code, the
 * performance targets it read (as `latest.md` opens with them). `bench:summary` reads the
 * results again rather than these, so older files and changed limits are judged alike.
 */
export function resultsJson(r: SuiteResults): string {
  return JSON.stringify({ ...r, targets: targetReadings(r) }, null, 2);
}

/** The short table: what was measured, against which ceiling and target. */
export function renderMarkdown(r: SuiteResults): string {
  const out: string[] = [];
  out.push(`# Benchmark results`, '');
  out.push(
    `${r.startedAt}${r.quick ? ' (quick run)' : ''}; ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGiB} GiB, Node ${r.machine.node}.`,
    '',
  );
  out.push(...targetsSection(r));
  const m = r.messages;
  if (m) {
    out.push(`## Messages (${m.options.clients} clients, ${m.options.window} in flight each)`, '');
    out.push('| what | per second | delivery p50 / p99 ms | server cores | server CPU µs per message |', '|---|---|---|---|---|');
    out.push(
      `| bare socket.io relay (ceiling) | ${m.relayCeiling.deliveredPerSec} | ${m.relayCeiling.deliveryLatencyMs.p50} / ${m.relayCeiling.deliveryLatencyMs.p99} | ${m.relayCeiling.serverCores} | ${m.relayCeiling.cpuUsPerMessage ?? ''} |`,
    );
    out.push(
      `| database single-row inserts, ${m.databaseCeiling.clients} clients (${m.databaseCeiling.tool}, ceiling) | ${m.databaseCeiling.insertsPerSec} | | | |`,
    );
    out.push(
      `| database seq-update + insert transactions (${m.databaseCeiling.tool}) | ${m.databaseCeiling.seqTransactionsPerSec} | | | |`,
    );
    const row = (what: string, p: PersistedRun | undefined) => {
      if (!p) return;
      if ('deliveredPerSec' in p) {
        out.push(
          `| ${what} | ${p.deliveredPerSec} | ${p.deliveryLatencyMs.p50} / ${p.deliveryLatencyMs.p99} | ${p.gatewayCores} | ${p.cpuUsPerMessage ?? ''} |`,
        );
      } else {
        out.push(`| ${what} | not measured: ${p.unavailable} | | | |`);
      }
    };
    row('persisted DMs through the gateway', m.persisted);
    if (m.scaling) {
      for (const run of m.scaling) {
        const what = run.processes === 1 ? 'one gateway process on Redis' : `${run.processes} gateway processes on Redis (CPU of all)`;
        row(`persisted DMs, ${what}`, run);
      }
    } else {
      row('persisted DMs across two gateway processes (Redis; CPU of both)', m.cluster);
    }
    out.push('');
    for (const s of m.scalingRatios ?? []) {
      out.push(
        `${s.processes} processes against one, all on Redis: ${pct(s.rate)} of its rate, ${s.cpu}× its CPU per DM` +
          (s.processes === 2 ? ` (targets ≥ ${LIMITS.twoGatewaysRate * 100} %, ≤ ${LIMITS.twoGatewaysCpu}×)` : '') +
          (s.cpuAgainstLoadGenerator !== undefined
            ? `; ${s.cpuAgainstLoadGenerator}× read against the load generator's CPU per DM in each stage.`
            : '.'),
      );
    }
    const activity = (m.scaling ?? []).flatMap((run) =>
      'deliveredPerSec' in run && run.cpu?.contextSwitchesPerMessage !== undefined
        ? [
            `${run.processes}: ${run.cpu.contextSwitchesPerMessage} (${run.cpu.preemptionsPerMessage ?? '?'}) / ${run.cpu.ioCallsPerMessage}` +
              ` / ${run.cpu.systemUsPerMessage ?? '?'} of ${run.cpu.usPerMessage} µs`,
          ]
        : [],
    );
    if (activity.length > 0) {
      out.push(
        'Context switches (of them preempted) / read and write calls / CPU in the kernel of the CPU in all, per DM, ' +
          `all gateway processes, by processes on Redis: ${activity.join(', ')}.`,
      );
    }
    const byStage = [
      ...(m.databaseCeiling.machine ? [{ stage: 'database inserts (per insert)', use: m.databaseCeiling.machine }] : []),
      ...[['persisted', m.persisted] as const, ...(m.scaling ?? []).map((run) => [`${run.processes} on Redis`, run] as const)].flatMap(
        ([stage, run]) => ('deliveredPerSec' in run && run.machine ? [{ stage, use: run.machine }] : []),
      ),
    ];
    if (byStage.length > 0) {
      out.push(
        'The machine by stage, and µs of CPU per DM of the load generator and the services: ' +
          `${byStage.map(({ stage, use }) => `${stage}: ${describeMachineBusy(use)}; ${describeCpuBeside(use)}`).join('. ')}.`,
      );
    }
    if (m.scalingRatios?.length || byStage.length > 0) out.push('');
    if (m.ratios && 'deliveredPerSec' in m.persisted) {
      const p = m.persisted;
      out.push(
        `Persisted DMs = ${pct(m.ratios.ofRelay)} of the relay, ${pct(m.ratios.ofDbInserts)} of single-row inserts, ` +
          `${pct(m.ratios.ofDbSeqTransactions)} of seq transactions. ` +
          `Target: ≥ ${LIMITS.dmsOfInserts * 100} % of single-row inserts, p99 < ${LIMITS.dmP99Ms} ms. ` +
          `Ack errors: ${JSON.stringify(p.ackErrors)}; acked but undelivered: ${p.undelivered}.`,
      );
      if (m.ratios.cpuOfRelay !== undefined) {
        out.push(
          '',
          `Gateway CPU per persisted DM = ${m.ratios.cpuOfRelay}× the relay's CPU per relayed message (target ≤ ${LIMITS.cpuOfRelay}×).` +
            (m.ratios.clusterCpuOfRelay !== undefined
              ? ` Across two processes: ${m.ratios.clusterCpuOfRelay}× (both processes' CPU), throughput ${pct(m.ratios.clusterOfSingle!)} of one process.`
              : ''),
        );
      }
    }
    out.push(...checkpointsLine(m.checkpoints, CHECKPOINTED_BEFORE.messages));
    out.push('');
  }
  const cs = r.callSetup;
  if (cs) {
    out.push(`## Call set-up (${cs.calls} calls, invite → first audio packet at the callee)`, '');
    if ('total' in cs) {
      out.push('| part | p50 ms | p99 ms |', '|---|---|---|');
      out.push(`| total | ${cs.total.p50} | ${cs.total.p99} |`);
      out.push(`| server (sum of request round trips) | ${cs.server.p50} | ${cs.server.p99} |`);
      out.push(`| client and media path (the rest) | ${cs.client.p50} | ${cs.client.p99} |`);
      for (const [step, t] of Object.entries(cs.byRequest)) out.push(`| · ${step} | ${t.p50} | ${t.p99} |`);
      out.push(...handlingRows(cs));
      out.push(...gatewayCpuRows(cs));
      out.push(
        '',
        `Targets: server p50 ≤ 8 ms, total p50 ≤ 20 ms, gateway CPU ≤ 8 ms per set-up. Failed set-ups: ${cs.failed}.` +
          (cs.warmupCalls ? ` Measured after ${cs.warmupCalls} set-ups to warm up.` : ''),
        ...checkpointsLine(cs.checkpoints, CHECKPOINTED_BEFORE.callSetup),
        ...callsMachineLine(cs.machine),
        '',
      );
    } else {
      out.push(`Not measured: ${cs.unavailable}`, '');
    }
  }
  const split = r.callSetupSplit;
  if (split && 'total' in split) {
    out.push(`## Call set-up with the room on another process (NODE_ROLE=gateway + NODE_ROLE=media, Redis)`, '');
    out.push('| part | p50 ms | p99 ms |', '|---|---|---|');
    out.push(`| total | ${split.total.p50} | ${split.total.p99} |`);
    out.push(`| server (sum of request round trips) | ${split.server.p50} | ${split.server.p99} |`);
    for (const [step, t] of Object.entries(split.byRequest)) out.push(`| · ${step} | ${t.p50} | ${t.p99} |`);
    out.push(...handlingRows(split));
    out.push(...gatewayCpuRows(split));
    out.push(`| media node CPU per call set-up (ms, its JS process) | ${split.mediaNodeCpuMsPerSetup ?? split.mediaNodeCpuMsPerCall} | |`);
    out.push(...mainThreadRows(split.mediaNodeMainThreadMsPerSetup));
    const routedExtra = routedExtraMs(r);
    if (routedExtra !== undefined) {
      out.push(
        '',
        `Routing cost: server p50 ${routedExtra.toFixed(2)} ms more than one process (target ≤ ${LIMITS.routedExtraMs} ms). Failed set-ups: ${split.failed}.`,
      );
    }
    out.push(...checkpointsLine(split.checkpoints, CHECKPOINTED_BEFORE.callSetup), ...callsMachineLine(split.machine), '');
  } else if (split) {
    out.push(`## Call set-up with the room on another process`, '', `Not measured: ${split.unavailable}`, '');
  }
  const mr = r.mediaRecovery;
  if (mr) {
    out.push(`## Media recovery (${mr.calls} active calls, their media node SIGKILLed)`, '');
    out.push('| from the kill to | p50 ms | p99 ms | max ms |', '|---|---|---|---|');
    out.push(`| both participants told (media:restart) | ${mr.toldMs.p50} | ${mr.toldMs.p99} | ${mr.toldMs.max} |`);
    out.push(`| first audio packet after negotiating again | ${mr.audioBackMs.p50} | ${mr.audioBackMs.p99} | ${mr.audioBackMs.max} |`);
    out.push('', `Back: ${mr.recovered}; ended instead: ${mr.ended} (target 0); not back in time: ${mr.notBack}. Target: p99 ≤ 3 s.`, '');
  }
  const cc = r.concurrentCalls;
  if (cc) {
    out.push(
      `## Concurrent 1:1 Opus calls on one worker (pass: loss < ${pct(cc.criteria.maxLoss)}, one-way p99 < ${cc.criteria.maxP99Ms} ms)`,
      '',
    );
    out.push(
      '| topology | calls | packets/s in | loss (before / inside / after SFU) | one-way p50 / p99 ms | worker cores | worker CPU µs per call-second (× bare 3.12) | generator cores | worker KiB/call | pass |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    out.push(...rampRows(cc.bare));
    if (cc.bareLegacy && 'steps' in cc.bareLegacy) out.push(...rampRows(cc.bareLegacy, cc.bare));
    if ('steps' in cc.gateway) out.push(...rampRows(cc.gateway, cc.bare));
    out.push('');
    out.push(`Bare worker: ${cc.bare.maxPassingCalls} calls pass${cc.bare.limitedBy ? ` (limit: ${cc.bare.limitedBy})` : ''}.`);
    if (cc.bareLegacy) {
      out.push(
        'steps' in cc.bareLegacy
          ? `Bare 3.8.4 worker (previous release, same generator): ${cc.bareLegacy.maxPassingCalls} calls pass${cc.bareLegacy.limitedBy ? ` (limit: ${cc.bareLegacy.limitedBy})` : ''}.`
          : `Bare 3.8.4 worker: not measured: ${cc.bareLegacy.unavailable}`,
      );
    }
    if ('steps' in cc.gateway) {
      out.push(
        `Through the gateway: ${cc.gateway.maxPassingCalls} calls pass${cc.gateway.limitedBy ? ` (limit: ${cc.gateway.limitedBy})` : ''}. Target: ≥ 500.`,
      );
    } else {
      out.push(`Through the gateway: not measured: ${cc.gateway.unavailable}`);
    }
    out.push('');
  }
  const idle = r.idleSockets;
  if (idle) {
    out.push(`## Idle connections`, '');
    out.push(
      `${idle.sockets} authenticated idle sockets: **${idle.retainedPerSocketKiB} KiB retained per socket** ` +
        `(${idle.liveHeapPerSocketKiB} KiB live heap + ${idle.externalPerSocketKiB} KiB external, read after forced full collections; target ≤ ${LIMITS.idleSocketKiB} KiB); ` +
        `gateway RSS ${idle.gatewayRssBeforeMiB} → ${idle.gatewayRssAfterMiB} MiB (${idle.rssPerSocketKiB} KiB RSS per socket, which collector timing moves either way); ` +
        `connected in ${idle.connectSeconds} s; /health ${idle.healthAfter}. ` +
        `A bare socket.io server holds ${idle.bareSocketIoRssPerSocketKiB} KiB per socket.`,
      '',
    );
    if (idle.connectCpuUsPerSocket !== undefined) {
      out.push(
        `CPU per connect (handshake, token check, room join): gateway ${idle.connectCpuUsPerSocket} µs, bare socket.io ${idle.bareSocketIoConnectCpuUsPerSocket} µs (${idle.connectCpuOfBare}×).`,
        '',
      );
    }
    if (idle.atRest) {
      out.push(
        `The gateway at rest (users signed in, no socket): ${idle.atRest.cpuMsPerSecond} ms of CPU and ${idle.atRest.switchesPerSecond} thread switches per second.`,
        '',
      );
    }
  }
  const vc = r.videoCost;
  if (vc) {
    out.push(
      `## Video cost: ${vc.options.calls} voice calls and ${vc.options.calls} video calls (VP8 ${vc.video.width}x${vc.video.height} at ${vc.video.fps} fps, ~${vc.video.approxKbps} kbit/s each way)`,
      '',
    );
    out.push(
      '| where | kind | worker cores | worker CPU µs per call-second | bytes per call-minute | packets/s received | loss |',
      '|---|---|---|---|---|---|---|',
    );
    const row = (where: string, kind: string, c: CallCost) =>
      `| ${where} | ${kind} | ${c.workerCores} | ${c.workerCpuUsPerCallSecond} | ${(c.bytesPerCallMinute / 2 ** 20).toFixed(2)} MiB | ${c.packetsPerSecond} | ${pct(c.lossRatio)} |`;
    const rows = (where: string, p: KindPair) => [
      row(where, 'voice', p.voice),
      row(where, 'video', p.video),
      `| ${where} | video ÷ voice | | ${p.cpuRatio}× | ${p.bytesRatio}× | | |`,
    ];
    out.push(...rows('bare 3.12 worker', vc.bare));
    if ('voice' in vc.gateway) out.push(...rows('through the gateway', vc.gateway));
    out.push('');
    if (!('voice' in vc.gateway)) out.push(`Through the gateway: not measured: ${vc.gateway.unavailable}`, '');
  }
  if (r.failures) {
    out.push('## Failed suites', '');
    for (const [k, v] of Object.entries(r.failures)) out.push(`- ${k}: ${v}`);
    out.push('');
  }
  return out.join('\n');
}
