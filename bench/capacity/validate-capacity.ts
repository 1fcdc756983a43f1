/**
 * npm run capacity:check: checks the capacity model against load measured
 * here. The model is linear: a process's CPU = idle + DMs × cost per DM +
 * calls × cost per call. The check measures each term alone against a
 * gateway child process (idle for a while, DMs only, call set-ups only),
 * then runs two MIXED loads (DMs and three-round-trip call set-ups at the
 * same time, in different proportions) and compares the CPU each used,
 * read from /proc, with what the model predicts from the terms: the
 * gateway's, and PostgreSQL's (all its processes) the same way. Terms and
 * mixes are measured in ROUNDS alternated rounds, because a machine like
 * this one drifts within minutes: the prediction uses each term's median
 * over the rounds and is compared with each mix's CPU summed over them.
 * Writes bench/results/capacity-check-<time>.json and prints a table; exit 1
 * when a prediction is more than 25% off.
 */
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { PLAIN_RTP_CAPABILITIES, SocialClient } from '@app/client';
import { befriend, inBatches, loginUsers } from '../support/bench-users';
import { newSsrc, opusRtpParameters } from '../support/call-topology';
import { startBenchGateway } from '../support/gateway-process';
import { sampleServicesCpu, servicesCpuBetween } from '../support/machine-usage';
import { cpuSeconds } from '../support/process-usage';
import { MeasuredCosts, predictedGatewayCpuSeconds, predictedPostgresCpuSeconds, relativeError } from './capacity-model';
import { loadBaseline, RESULTS_DIR } from './measured-costs';

const TOLERANCE = 0.25;
const ROUNDS = 3;

interface MixedLoad {
  name: string;
  dms: number;
  calls: number;
  /** DMs in flight at once; calls run one after another beside them. */
  dmWindow: number;
}

const LOADS: MixedLoad[] = [
  // DMs as many in flight as the messages bench keeps (its cost per DM is measured at that concurrency).
  { name: 'message-heavy', dms: 12_000, calls: 30, dmWindow: 128 },
  { name: 'call-heavy', dms: 3_000, calls: 120, dmWindow: 128 },
];

async function sendDms(pairs: (readonly [SocialClient, SocialClient])[], total: number, window: number): Promise<number> {
  let sent = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async (_, lane) => {
      const [from, to] = pairs[lane % pairs.length];
      while (next < total) {
        next++;
        await from.messages.send(to.id, `load ${next}`);
        sent++;
      }
    }),
  );
  return sent;
}

async function setUpCalls(pairs: (readonly [SocialClient, SocialClient])[], calls: number, rtpPort: number): Promise<number> {
  let done = 0;
  for (let i = 0; i < calls; i++) {
    const [caller, callee] = pairs[i % pairs.length];
    const incoming = callee.waitFor('call:incoming', (p) => p.call.callerId === caller.id, 10_000);
    const { call } = await caller.request('call:invite', { to: callee.id });
    await incoming;
    const active = caller.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'active', 10_000);
    await callee.request('call:accept', {
      callId: call.id,
      join: { rtpCapabilities: PLAIN_RTP_CAPABILITIES, recv: { type: 'plain', ip: '127.0.0.1', port: rtpPort } },
    });
    await active;
    await caller.request('media:join', {
      callId: call.id,
      send: { type: 'plain', ip: '127.0.0.1', port: rtpPort, produce: [{ kind: 'audio', rtpParameters: opusRtpParameters(newSsrc()) }] },
    });
    await caller.request('call:hangup', { callId: call.id });
    done++;
  }
  return done;
}

/** The model's terms as one round measures them: cores when idle, CPU per DM (µs) and per call set-up (ms). */
interface Terms {
  idleCores: number;
  usPerDm: number;
  msPerCall: number;
  postgresIdleCores: number;
  postgresUsPerDm: number;
  postgresMsPerCall: number;
}

interface Measured<T> {
  cpu: number;
  postgres: number;
  seconds: number;
  result: T;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** CPU seconds the gateway and PostgreSQL used while `work` ran, and how long it ran. */
async function measure<T>(pid: number, work: () => Promise<T>): Promise<Measured<T>> {
  const before = cpuSeconds(pid);
  const servicesBefore = sampleServicesCpu();
  const started = performance.now();
  const result = await work();
  return {
    cpu: cpuSeconds(pid) - before,
    postgres: servicesCpuBetween(servicesBefore, sampleServicesCpu()).postgres,
    seconds: (performance.now() - started) / 1000,
    result,
  };
}

async function main(): Promise<number> {
  const baseline = loadBaseline();
  const gw = await startBenchGateway({ EVENT_RATE_SCALE: '1000', DM_RATE_PER_SEC: '100000', DM_RATE_BURST: '100000' });
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const rows: Record<string, unknown>[] = [];
  let worst = 0;
  let terms: Terms | undefined;
  let termsByRound: Terms[] = [];
  try {
    const users = await loginUsers(gw.url, 96, 'capacity', 16);
    await inBatches(users, 32, (u) => u.connect());
    const pairs = Array.from({ length: users.length / 2 }, (_, i) => [users[2 * i], users[2 * i + 1]] as const);
    await inBatches(pairs, 8, ([a, b]) => befriend(a, b));
    const port = socket.address().port;
    const dmPairs = pairs.slice(0, 32);
    const callPairs = pairs.slice(32);
    // Warm-up, so the first load does not pay for JIT compilation and pool connections.
    await Promise.all([sendDms(dmPairs, 2_000, 128), setUpCalls(callPairs, 10, port)]);
    // Each round's terms, and its run of each load (in LOADS' order).
    const rounds: { terms: Terms; loads: Measured<[number, number]>[] }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // The model's terms, each measured alone, then the mixes, so each round sees the machine at one moment.
      const idle = await measure(gw.pid, () => new Promise((r) => setTimeout(r, 2_000)));
      const idleCores = idle.cpu / idle.seconds;
      const postgresIdleCores = idle.postgres / idle.seconds;
      const dmOnly = await measure(gw.pid, () => sendDms(dmPairs, 8_000, 128));
      const callOnly = await measure(gw.pid, () => setUpCalls(callPairs, 60, port));
      const roundTerms: Terms = {
        idleCores,
        usPerDm: ((dmOnly.cpu - idleCores * dmOnly.seconds) / dmOnly.result) * 1e6,
        msPerCall: ((callOnly.cpu - idleCores * callOnly.seconds) / callOnly.result) * 1e3,
        postgresIdleCores,
        postgresUsPerDm: ((dmOnly.postgres - postgresIdleCores * dmOnly.seconds) / dmOnly.result) * 1e6,
        postgresMsPerCall: ((callOnly.postgres - postgresIdleCores * callOnly.seconds) / callOnly.result) * 1e3,
      };
      const loads = [];
      for (const load of LOADS) {
        loads.push(
          await measure(gw.pid, () => Promise.all([sendDms(dmPairs, load.dms, load.dmWindow), setUpCalls(callPairs, load.calls, port)])),
        );
      }
      rounds.push({ terms: roundTerms, loads });
    }
    const medianOf = (k: keyof Terms) => median(rounds.map((r) => r.terms[k]));
    terms = {
      idleCores: medianOf('idleCores'),
      usPerDm: medianOf('usPerDm'),
      msPerCall: medianOf('msPerCall'),
      postgresIdleCores: medianOf('postgresIdleCores'),
      postgresUsPerDm: medianOf('postgresUsPerDm'),
      postgresMsPerCall: medianOf('postgresMsPerCall'),
    };
    termsByRound = rounds.map((r) => r.terms);
    const costs: MeasuredCosts = {
      ...baseline,
      source: `measured alone in this run (idle, DMs only, call set-ups only; medians of ${ROUNDS} rounds)`,
      gatewayCpuUsPerDm: terms.usPerDm,
      gatewayCpuMsPerCall: terms.msPerCall,
      postgresCpuUsPerDm: terms.postgresUsPerDm,
      postgresCpuMsPerCall: terms.postgresMsPerCall,
    };
    for (const [index, load] of LOADS.entries()) {
      const runs = rounds.map((r) => r.loads[index]);
      const sum = (f: (run: Measured<[number, number]>) => number) => runs.reduce((total, run) => total + f(run), 0);
      const dms = sum((run) => run.result[0]);
      const calls = sum((run) => run.result[1]);
      const seconds = sum((run) => run.seconds);
      const cpu = sum((run) => run.cpu);
      const postgres = sum((run) => run.postgres);
      const predicted = terms.idleCores * seconds + predictedGatewayCpuSeconds({ dms, calls, processes: 1 }, costs);
      const error = relativeError(predicted, cpu);
      const postgresPredicted = terms.postgresIdleCores * seconds + predictedPostgresCpuSeconds({ dms, calls }, costs);
      const postgresError = relativeError(postgresPredicted, postgres);
      worst = Math.max(worst, error, postgresError);
      rows.push({
        load: load.name,
        dms,
        calls,
        seconds: Math.round(seconds * 100) / 100,
        measuredCpuS: Math.round(cpu * 100) / 100,
        measuredCpuSByRound: runs.map((run) => Math.round(run.cpu * 100) / 100),
        predictedCpuS: Math.round(predicted * 100) / 100,
        error: Math.round(error * 1000) / 1000,
        measuredPostgresCpuS: Math.round(postgres * 100) / 100,
        measuredPostgresCpuSByRound: runs.map((run) => Math.round(run.postgres * 100) / 100),
        predictedPostgresCpuS: Math.round(postgresPredicted * 100) / 100,
        postgresError: Math.round(postgresError * 1000) / 1000,
      });
    }
    for (const u of users) u.disconnect();
  } finally {
    socket.close();
    await gw.close();
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const rounded = (t: Terms | undefined) => Object.fromEntries(Object.entries(t ?? {}).map(([k, v]) => [k, round(v)]));
  const out = {
    at: new Date().toISOString(),
    rounds: ROUNDS,
    terms: rounded(terms),
    termsByRound: termsByRound.map(rounded),
    baseline,
    tolerance: TOLERANCE,
    rows,
    passed: worst <= TOLERANCE,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `capacity-check-${out.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  const pct = (e: unknown) => `${Math.round((e as number) * 100)}%`;
  process.stdout.write(
    '| load | DMs | calls | measured gateway CPU s | predicted s | error | measured PostgreSQL CPU s | predicted s | error |\n' +
      '|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const r of rows) {
    process.stdout.write(
      `| ${r.load} | ${r.dms} | ${r.calls} | ${r.measuredCpuS} | ${r.predictedCpuS} | ${pct(r.error)} | ` +
        `${r.measuredPostgresCpuS} | ${r.predictedPostgresCpuS} | ${pct(r.postgresError)} |\n`,
    );
  }
  process.stdout.write(
    `\nEach load summed over ${ROUNDS} rounds. Terms measured alone (medians): idle ${out.terms.idleCores} cores, ${out.terms.usPerDm} µs per DM, ${out.terms.msPerCall} ms per call set-up ` +
      `(baseline: ${baseline.gatewayCpuUsPerDm} µs, ${baseline.gatewayCpuMsPerCall} ms); PostgreSQL idle ${out.terms.postgresIdleCores} cores, ` +
      `${out.terms.postgresUsPerDm} µs per DM, ${out.terms.postgresMsPerCall} ms per call set-up (baseline: ${baseline.postgresCpuUsPerDm} µs, ` +
      `${baseline.postgresCpuMsPerCall} ms). Within ±${TOLERANCE * 100}%: ${out.passed ? 'yes' : 'no'}. ` +
      `Written to ${path.relative(process.cwd(), file)}\n`,
  );
  return out.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(3);
  },
);
