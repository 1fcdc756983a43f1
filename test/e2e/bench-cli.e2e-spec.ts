import { BENCH_ENVIRONMENT, BENCH_USAGE, parseBenchArgs, setupWarmupCalls, SUITES } from '../../bench/support/bench-args';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onDatabaseServer, SCRATCH_SERVER_URL } from '@app/harness';
import { checkpointCounts, startAfterCheckpoint } from '../../bench/support/database-checkpoints';
import { Client } from 'pg';
import {
  machineCpuOver,
  ProcessTable,
  sampleDescendantsCpu,
  sampleMachineCpu,
  sampleServicesCpu,
  ServicesCpu,
  servicesCpuBetween,
} from '../../bench/support/machine-usage';
import { cpuPerOp, cpuRatio, cpuSeconds, processActivity } from '../../bench/support/process-usage';
import { sendSlots } from '../../bench/support/message-load';
import { benchExitCode, renderMarkdown, resultsJson } from '../../bench/support/results-report';
import { parseNumberListSetting, parseNumberSetting } from '../../bench/support/env-settings';
import { scalingRatiosOf } from '../../bench/suites/messages';
import { stagesSharedWithOtherPrograms, summariseRuns, targetReadings, targetsSection } from '../../bench/support/run-targets';
import { main, readRun, renderSummary } from '../../bench/summarise-runs';
import { benchRunFiles } from '../../bench/capacity/measured-costs';

describe('npm run bench command line', () => {
  it('takes --quick, --only with known suite names, and --help', () => {
    expect(parseBenchArgs([])).toEqual({ quick: false, only: undefined, help: false });
    expect(parseBenchArgs(['--quick', '--only', 'messages,idle'])).toEqual({
      quick: true,
      only: new Set(['messages', 'idle']),
      help: false,
    });
    expect(parseBenchArgs(['--only=calls']).only).toEqual(new Set(['calls']));
    expect(parseBenchArgs(['-h']).help).toBe(true);
  });

  it('warms the call set-ups up with 1,000 of them (20 in a quick run) unless BENCH_SETUP_WARMUP_CALLS says otherwise', () => {
    expect(setupWarmupCalls(false, undefined)).toBe(1_000);
    expect(setupWarmupCalls(true, undefined)).toBe(20);
    expect(setupWarmupCalls(false, '')).toBe(1_000);
    expect(setupWarmupCalls(false, '20')).toBe(20);
    expect(setupWarmupCalls(true, '0')).toBe(0);
    for (const bad of ['abc', '-1', '2.5', '1e400']) {
      expect(() => setupWarmupCalls(false, bad)).toThrow(`BENCH_SETUP_WARMUP_CALLS: a whole number ≥ 0, not "${bad}"`);
    }
  });

  it('reads numeric settings of the bench and its diagnostics in range or refuses them by name and rule', () => {
    expect(parseNumberSetting('ROUNDS', undefined, 3, { whole: true, min: 1 })).toBe(3);
    expect(parseNumberSetting('ROUNDS', ' ', 3, { whole: true, min: 1 })).toBe(3);
    expect(parseNumberSetting('ROUNDS', '5', 3, { whole: true, min: 1 })).toBe(5);
    expect(parseNumberSetting('RATE', undefined, undefined, { above: 0 })).toBeUndefined();
    expect(parseNumberSetting('RATE', '2000', undefined, { above: 0 })).toBe(2000);
    expect(parseNumberSetting('BUSY_SHARE', '0.5', 0.25, { above: 0, below: 1 })).toBe(0.5);
    for (const bad of ['0', '2.5', 'three', '1e400']) {
      expect(() => parseNumberSetting('ROUNDS', bad, 3, { whole: true, min: 1 })).toThrow(`ROUNDS: a whole number ≥ 1, not "${bad}"`);
    }
    expect(() => parseNumberSetting('RATE', '0', undefined, { above: 0 })).toThrow('RATE: a number > 0, not "0"');
    expect(() => parseNumberSetting('BUSY_SHARE', '1', 0.25, { above: 0, below: 1 })).toThrow('BUSY_SHARE: a number > 0 and < 1, not "1"');

    const sleeps = { whole: true, min: 0, max: 1000 };
    expect(parseNumberListSetting('SLEEPS', undefined, [0, 1], sleeps)).toEqual([0, 1]);
    expect(parseNumberListSetting('SLEEPS', '0, 4,32', [0, 1], sleeps)).toEqual([0, 4, 32]);
    for (const bad of ['1,,2', '1,2000', '1,x', '-1']) {
      expect(() => parseNumberListSetting('SLEEPS', bad, [0, 1], sleeps)).toThrow(
        `SLEEPS: a whole number ≥ 0 and ≤ 1000 each, comma-separated, not "${bad}"`,
      );
    }
  });

  it('refuses unknown suite names and options instead of silently running nothing', () => {
    expect(() => parseBenchArgs(['--only', 'mesages'])).toThrow(
      `--only: unknown suite "mesages"; known: ${Object.keys(SUITES).join(', ')}`,
    );
    expect(() => parseBenchArgs(['--only', 'messages,nope'])).toThrow(/unknown suite "nope"/);
    expect(() => parseBenchArgs(['--only='])).toThrow(/unknown suite \(none given\)/);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/Unknown option '--fast'/);
    expect(() => parseBenchArgs(['extra'])).toThrow();
  });

  it('documents every suite in --help', () => {
    for (const name of Object.keys(SUITES)) expect(BENCH_USAGE).toContain(name);
  });

  it('lists in --help exactly the BENCH_ environment variables the benchmark reads', () => {
    const benchDir = path.join(__dirname, '../../bench');
    const read = new Set<string>();
    for (const file of fs.readdirSync(benchDir, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      for (const [, name] of fs.readFileSync(path.join(benchDir, file), 'utf8').matchAll(/process\.env\.(BENCH_[A-Z_]+)/g)) read.add(name);
    }
    expect(read.size).toBeGreaterThan(0);
    expect([...read].sort()).toEqual(Object.keys(BENCH_ENVIRONMENT).sort());
    for (const name of read) expect(BENCH_USAGE).toContain(name);
  });
});

describe('the message load at an offered rate', () => {
  it("spaces each lane's sends by lanes / rate, lets a late lane send at once and never catches up in a burst", () => {
    // 100 sends per second over 2 lanes: each lane sends every 20 ms.
    const delayOf = sendSlots<string>(100, 2);
    expect(delayOf('a', 0)).toBe(0);
    expect(delayOf('a', 0)).toBe(20);
    expect(delayOf('a', 5)).toBe(35);
    // Lanes are spaced on their own.
    expect(delayOf('b', 5)).toBe(0);
    // Lane a's last slot was 40 ms; at 100 ms it is late: it sends now, and the next one 20 ms after.
    expect(delayOf('a', 100)).toBe(0);
    expect(delayOf('a', 100)).toBe(20);
    expect(delayOf('a', 100)).toBe(40);
  });
});

describe('CPU per operation in the results', () => {
  it('divides the CPU used between two samples by the operations done, per process or all together', () => {
    const before = { wallMs: 0, cpuSeconds: { 1: 10, 2: 5 } };
    const after = { wallMs: 1000, cpuSeconds: { 1: 10.5, 2: 5.25 } };
    expect(cpuPerOp(before, after, 10_000, 1)).toBe(50);
    expect(cpuPerOp(before, after, 10_000)).toBe(75);
    expect(cpuPerOp(before, after, 0)).toBeNaN();
    expect(() => cpuPerOp(before, after, 1, 3)).toThrow(/pid 3/);
    expect(cpuRatio(139, 16.7)).toBe(8.32);
  });

  it("counts a process's read and write calls, its threads' context switches and its CPU in the kernel, and tells nothing of a process that is gone", () => {
    const before = processActivity(process.pid)!;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'activity-')), 'f');
    const fd = fs.openSync(file, 'w');
    // Enough system calls for the kernel's time to show in 10 ms ticks.
    for (let i = 0; i < 100_000; i++) fs.writeSync(fd, 'x');
    fs.closeSync(fd);
    const after = processActivity(process.pid)!;
    fs.rmSync(path.dirname(file), { recursive: true });
    expect(after.ioCalls - before.ioCalls).toBeGreaterThanOrEqual(100_000);
    expect(after.systemSeconds).toBeGreaterThan(before.systemSeconds);
    expect(after.systemSeconds).toBeLessThanOrEqual(cpuSeconds(process.pid));
    expect(after.contextSwitches).toBeGreaterThanOrEqual(before.contextSwitches);
    expect(after.preemptions).toBeGreaterThanOrEqual(before.preemptions);
    expect(after.contextSwitches).toBeGreaterThanOrEqual(after.preemptions);
    expect(processActivity(2 ** 22 + 1)).toBeUndefined();
  });

  it("gives the machine's busy cores and the host's steal, and the load generator's and each service's CPU per operation", () => {
    const services = (postgres: number): ServicesCpu => ({
      processes: new Map([
        ['10@1', { name: 'postgres', pid: 10, parent: 1, seconds: postgres }],
        ['20@1', { name: 'redis-server', pid: 20, parent: 1, seconds: 3 }],
      ]),
      reaped: { postgres: 0, 'redis-server': 0, 'mediasoup-worker': 0 },
    });
    const sample = (
      at: number,
      busy: number,
      steal: number,
      loadGenerator: number,
      children: number,
      kernelThreads: number,
      postgres: number,
    ) => ({
      wallMs: at,
      cores: 2,
      busySeconds: busy,
      stealSeconds: steal,
      loadGeneratorSeconds: loadGenerator,
      childrenSeconds: children,
      kernelThreadsSeconds: kernelThreads,
      services: services(postgres),
    });
    const before = sample(0, 10, 1, 2, 5, 1, 4);
    const after = sample(2000, 13, 1.1, 2.5, 5.8, 1.2, 4.7);
    expect(machineCpuOver(before, after, 1000)).toEqual({
      cores: 2,
      busyCores: 1.5,
      stealCores: 0.05,
      // 3 s busy less 0.5 of the load generator, 0.8 of its children, 0.2 of the kernel's threads and 0.7 of PostgreSQL, over 2 s.
      otherCores: 0.4,
      loadGeneratorUsPerOp: 500,
      // A service that ran nothing in between is left out.
      servicesUsPerOp: { postgres: 700 },
    });
    // A tick or two more in the processes than in the machine's count reads as none, not below none.
    expect(machineCpuOver(before, sample(2000, 12.1, 1.1, 2.5, 5.8, 1.2, 4.7), 1000)?.otherCores).toBe(0);
    expect(machineCpuOver(undefined, after, 1000)).toBeUndefined();
    expect(machineCpuOver(before, after, 0)).toBeUndefined();
  });

  it("counts the CPU of the processes the load generator started, and of theirs, alive or exited, but not the services'", () => {
    // "pid (command) state parent ...": utime at field 14, cutime at 16.
    const statLine = (pid: number, command: string, parent: number, ticks: number, reapedTicks = 0) =>
      `${pid} (${command}) S ${parent} 0 0 0 0 0 0 0 0 0 ${ticks} 0 ${reapedTicks} 0 20 0 1 0 100`;
    const world = { grandchildTicks: 100, grandchildExited: false };
    const table: ProcessTable = {
      pids: () => ['1', '10', '20', '30', '40', '50'].filter((pid) => pid !== '30' || !world.grandchildExited),
      stat: (pid) =>
        ({
          '1': statLine(1, 'init', 0, 7, 900),
          // The load generator, which has waited for a pgbench of 50 ticks.
          '10': statLine(10, 'node', 1, 500, 50),
          // A gateway it started, with a node of its own, and its media worker: a service, read as one.
          '20': statLine(20, 'node', 10, 200, world.grandchildExited ? world.grandchildTicks : 0),
          '30': world.grandchildExited ? undefined : statLine(30, 'node', 20, world.grandchildTicks),
          '40': statLine(40, 'mediasoup-worke', 20, 800),
          // Someone else's program.
          '50': statLine(50, 'tsc', 1, 300),
        })[pid],
    };
    // 0.5 s of pgbench, 2 s of the gateway, 1 s of its node.
    expect(sampleDescendantsCpu(table, 10)).toBeCloseTo(3.5);
    // The node uses 0.2 s more, then exits: its whole life moves to the gateway's account, and is counted once.
    world.grandchildTicks = 120;
    world.grandchildExited = true;
    expect(sampleDescendantsCpu(table, 10)).toBeCloseTo(3.7);
  });

  it("reads a program the load generator did not start as another program's, and one it started as its own", async () => {
    const burn = (seconds: number) => `const t = process.cpuUsage(); while (process.cpuUsage(t).user < ${seconds * 1e6});`;
    const exited = (child: ReturnType<typeof spawn>) => new Promise((resolve) => child.once('exit', resolve));
    const before = sampleMachineCpu()!;
    await exited(spawn(process.execPath, ['-e', burn(0.3)], { stdio: 'ignore' }));
    // A shell that starts the program and leaves it running: its parent is then no longer any of ours.
    const shell = spawn('sh', ['-c', `"${process.execPath}" -e "${burn(0.4)}" & echo $!`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pid = '';
    shell.stdout!.on('data', (chunk) => (pid += String(chunk)));
    await exited(shell);
    while (fs.existsSync(`/proc/${pid.trim()}/stat`) && !/^\S+ \(\S+\) Z/.test(fs.readFileSync(`/proc/${pid.trim()}/stat`, 'utf8'))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const after = sampleMachineCpu()!;
    expect(after.childrenSeconds - before.childrenSeconds).toBeGreaterThanOrEqual(0.3);
    const seconds = (after.wallMs - before.wallMs) / 1000;
    // At least most of the other program's CPU (each process's CPU is read to a tick), with what the test runner's other workers did meanwhile.
    expect(machineCpuOver(before, after, 1)!.otherCores! * seconds).toBeGreaterThan(0.3);
  }, 30_000);

  it("reads the machine's cores and this process's own CPU as the load generator's", () => {
    const before = sampleMachineCpu()!;
    const started = process.cpuUsage();
    // 200 ms of this process's CPU, however long the machine takes to give it.
    while (process.cpuUsage(started).user < 200_000) crypto.randomBytes(64);
    const after = sampleMachineCpu()!;
    expect(after.cores).toBe(os.cpus().length);
    const use = machineCpuOver(before, after, 1000)!;
    // Per 1000 operations, with what the test runner's other threads did meanwhile.
    expect(use.loadGeneratorUsPerOp).toBeGreaterThanOrEqual(200);
    expect(use.loadGeneratorUsPerOp).toBeLessThan(400);
    // The machine's count, in 10 ms ticks per core, holds this process's.
    expect(after.busySeconds - before.busySeconds).toBeGreaterThan(0.15);
    expect(use.stealCores).toBeGreaterThanOrEqual(0);
    // PostgreSQL serves these tests: its processes, found by name, have used some CPU.
    expect([...after.services.processes.values()].some((p) => p.name === 'postgres' && p.seconds > 0)).toBe(true);
  });

  it("counts a service's process that exited in between: its CPU in between, not less its CPU before", async () => {
    // A PostgreSQL backend of its own that has used CPU before the first sample and uses more after it, then exits.
    const client = new Client({ connectionString: SCRATCH_SERVER_URL });
    await client.connect();
    const burn = () => client.query('SELECT count(*) FROM generate_series(1, 4000000)');
    await burn();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const before = sampleServicesCpu();
    const backendBefore = [...before.processes.values()].find((p) => p.pid === rows[0].pid)!;
    expect(backendBefore.seconds).toBeGreaterThan(0.05);
    await burn();
    await client.end();
    // Its postmaster has waited for it once it is gone from /proc.
    let after = sampleServicesCpu();
    for (let i = 0; i < 50 && [...after.processes.values()].some((p) => p.pid === rows[0].pid); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = sampleServicesCpu();
    }
    const between = servicesCpuBetween(before, after).postgres;
    // Summing the processes alive at each sample would take the backend's earlier CPU off and miss its later.
    const sum = (s: ServicesCpu) => [...s.processes.values()].filter((p) => p.name === 'postgres').reduce((t, p) => t + p.seconds, 0);
    expect(between).toBeGreaterThan(0.05);
    expect(between).toBeGreaterThanOrEqual(sum(after) - sum(before) + backendBefore.seconds);
  });

  it('takes a scan of /proc only when no child was waited for while it was read', () => {
    // "pid (command) state parent ...": utime at field 14, cutime at 16, the start time at 22.
    const statLine = (pid: number, parent: number, ticks: number, reapedTicks: number) =>
      `${pid} (postgres) S ${parent} 0 0 0 0 0 0 0 0 0 ${ticks} 0 ${reapedTicks} 0 20 0 1 0 100`;
    // The postmaster read first, the backend reaped next, is missed; the backend read first, then reaped, counts twice.
    for (const order of [
      ['1', '2'],
      ['2', '1'],
    ]) {
      const world = { backendTicks: 30, reaped: false, reads: 0, reapAfterRead: Infinity };
      const table: ProcessTable = {
        pids: () => order.filter((pid) => pid === '1' || !world.reaped),
        stat: (pid) => {
          if (pid === '2' && world.reaped) return undefined;
          const line = pid === '1' ? statLine(1, 0, 5, world.reaped ? world.backendTicks : 0) : statLine(2, 1, world.backendTicks, 0);
          if (++world.reads === world.reapAfterRead) world.reaped = true;
          return line;
        },
      };
      const before = sampleServicesCpu(table);
      world.backendTicks = 60;
      world.reapAfterRead = world.reads + 1;
      expect(servicesCpuBetween(before, sampleServicesCpu(table)).postgres).toBeCloseTo(0.3);
    }
  });

  it('finds a service by the 15 characters of its name the kernel keeps', async () => {
    // A busy program under a media worker's name ("mediasoup-worke" to the kernel).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'services-'));
    const program = path.join(dir, 'mediasoup-worker');
    fs.copyFileSync('/usr/bin/yes', program);
    fs.chmodSync(program, 0o755);
    const busy = spawn(program, [], { stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const worker = [...sampleServicesCpu().processes.values()].find((p) => p.pid === busy.pid);
      expect(worker).toMatchObject({ name: 'mediasoup-worker', parent: process.pid });
      expect(worker!.seconds).toBeGreaterThan(0);
    } finally {
      busy.kill();
      fs.rmSync(dir, { recursive: true });
    }
  });

  const latency = { count: 1, p50: 1, p90: 2, p99: 3, max: 4, mean: 1 };
  const load = {
    senders: 2,
    window: 1,
    seconds: 1,
    ackedPerSec: 100,
    ackErrors: {},
    undelivered: 0,
    ackLatencyMs: latency,
    deliveryLatencyMs: latency,
  };
  const messagesRun = {
    options: { clients: 2, window: 1, warmupMs: 0, durationMs: 1, dbClients: 1, cluster: true },
    relayCeiling: { ...load, deliveredPerSec: 1000, serverCores: 0.2, cpuUsPerMessage: 20 },
    databaseCeiling: { tool: 'pgbench' as const, clients: 1, seconds: 1, insertsPerSec: 500, seqTransactionsPerSec: 400 },
  };
  const machine = { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v' };
  type MessagesResult = NonNullable<Parameters<typeof renderMarkdown>[0]['messages']>;
  const reportOf = (messages: Omit<MessagesResult, keyof typeof messagesRun>) =>
    renderMarkdown({ startedAt: 't', quick: true, machine, messages: { ...messagesRun, ...messages } });

  it('puts the gateway CPU per DM beside the relay ceiling and their ratio in the table', () => {
    const md = reportOf({
      persisted: { ...load, deliveredPerSec: 400, gatewayCores: 0.4, cpuUsPerMessage: 70 },
      cluster: { unavailable: 'no Redis' },
      ratios: { ofRelay: 0.4, ofDbInserts: 0.8, ofDbSeqTransactions: 1, cpuOfRelay: 3.5 },
    });
    expect(md).toContain('| persisted DMs through the gateway | 400 | 1 / 3 | 0.4 | 70 |');
    expect(md).toContain('| bare socket.io relay (ceiling) | 1000 | 1 / 3 | 0.2 | 20 |');
    expect(md).toContain("3.5× the relay's CPU per relayed message");
    expect(md).toContain('across two gateway processes (Redis; CPU of both) | not measured: no Redis');
  });

  it("puts each deployment's context switches, read and write calls and CPU in the kernel per DM under the scaling rows", () => {
    const run = (
      processes: number,
      usPerMessage: number,
      contextSwitchesPerMessage: number,
      preemptionsPerMessage: number,
      ioCallsPerMessage: number,
      systemUsPerMessage?: number,
    ) => ({
      ...load,
      processes,
      deliveredPerSec: 100,
      gatewayCores: 0.1,
      cpuUsPerMessage: usPerMessage,
      cpu: { cores: {}, usPerMessage, contextSwitchesPerMessage, preemptionsPerMessage, ioCallsPerMessage, systemUsPerMessage },
    });
    const md = reportOf({
      persisted: { unavailable: 'not run' },
      // The second as results written before the kernel's share was read.
      scaling: [run(1, 60, 0.128, 0.055, 0.56, 4.1), run(2, 90, 0.208, 0.154, 0.73)],
      scalingRatios: [{ processes: 2, rate: 1, cpu: 1.5 }],
    });
    expect(md).toContain(
      'Context switches (of them preempted) / read and write calls / CPU in the kernel of the CPU in all, per DM, all gateway ' +
        'processes, by processes on Redis: 1: 0.128 (0.055) / 0.56 / 4.1 of 60 µs, 2: 0.208 (0.154) / 0.73 / ? of 90 µs.',
    );
  });

  it('says where the machine went in each DM stage', () => {
    const use = (loadGeneratorUsPerOp: number) => ({
      cores: 2,
      busyCores: 1.9,
      stealCores: 0.02,
      loadGeneratorUsPerOp,
      servicesUsPerOp: { postgres: 35.5, 'redis-server': 2 },
    });
    const run = (processes: number, machineUse?: ReturnType<typeof use>) => ({
      ...load,
      processes,
      deliveredPerSec: 100,
      gatewayCores: 0.1,
      cpuUsPerMessage: 60,
      machine: machineUse,
    });
    const md = reportOf({
      persisted: { ...load, deliveredPerSec: 100, gatewayCores: 0.1, cpuUsPerMessage: 60, machine: use(30) },
      // The second as results written before the machine was read.
      scaling: [run(1, use(31)), run(2)],
    });
    expect(md).toContain(
      'The machine by stage, and µs of CPU per DM of the load generator and the services: persisted: 1.9 of 2 cores busy (0.02 taken by the host); ' +
        'load generator 30.0, postgres 35.5, redis-server 2.0. 1 on Redis: 1.9 of 2 cores busy (0.02 taken by the host); ' +
        'load generator 31.0, postgres 35.5, redis-server 2.0.',
    );
    // The database's own stage, and other programs' cores, once they were read.
    const database = { ...use(0.1), busyCores: 1.5, otherCores: 0.03, servicesUsPerOp: { postgres: 120 } };
    expect(
      renderMarkdown({
        startedAt: 't',
        quick: true,
        machine,
        messages: {
          ...messagesRun,
          databaseCeiling: { ...messagesRun.databaseCeiling, machine: database },
          persisted: { unavailable: 'not run' },
        },
      }),
    ).toContain(
      'The machine by stage, and µs of CPU per DM of the load generator and the services: database inserts (per insert): ' +
        '1.5 of 2 cores busy (0.02 taken by the host, 0.03 by other programs); load generator 0.1, postgres 120.0.',
    );
    expect(reportOf({ persisted: { unavailable: 'not run' } })).not.toContain('The machine by stage');
  });

  it("reads each deployment against one process's, and also against the load generator's CPU per DM in each stage", () => {
    const use = (loadGeneratorUsPerOp: number) => ({ cores: 2, busyCores: 1.9, stealCores: 0, loadGeneratorUsPerOp, servicesUsPerOp: {} });
    const run = (processes: number, deliveredPerSec: number, cpuUsPerMessage: number, machineUse?: ReturnType<typeof use>) => ({
      ...load,
      processes,
      deliveredPerSec,
      gatewayCores: 1,
      cpuUsPerMessage,
      machine: machineUse,
    });
    // The machine ran slower in the one-process stage (its load generator 30 µs per DM, 25 at two).
    const scaling = [run(1, 10_000, 50, use(30)), run(2, 9_000, 70, use(25)), run(4, 8_000, 100)];
    const ratios = scalingRatiosOf(scaling);
    expect(ratios).toEqual([
      { processes: 2, rate: 0.9, cpu: 1.4, cpuAgainstLoadGenerator: 1.68 },
      // Read before the machine was: no gauged reading.
      { processes: 4, rate: 0.8, cpu: 2 },
    ]);
    expect(scalingRatiosOf([{ processes: 1, unavailable: 'Redis down' }, run(2, 9_000, 70)])).toBeUndefined();

    const md = reportOf({ persisted: { unavailable: 'not run' }, scaling, scalingRatios: ratios });
    expect(md).toContain(
      "2 processes against one, all on Redis: 90.00 % of its rate, 1.4× its CPU per DM (targets ≥ 100 %, ≤ 1.3×); 1.68× read against the load generator's CPU per DM in each stage.",
    );
    expect(md).toContain('4 processes against one, all on Redis: 80.00 % of its rate, 2× its CPU per DM.');
  });

  it("says whether the database's stages started after a checkpoint and whether the server's own fell in them", () => {
    const md = (checkpoints: MessagesResult['checkpoints']) => reportOf({ persisted: { unavailable: 'not run' }, checkpoints });
    expect(md({ forcedAtStart: true, timedDuring: 0 })).toContain(
      "PostgreSQL checkpoints: one forced before the database stages; none of the server's timed ones during them.",
    );
    expect(md({ forcedAtStart: false, timedDuring: 1 })).toContain(
      "none forced before the database stages (CHECKPOINT refused); 1 of the server's timed ones started during them",
    );
    expect(md({ forcedAtStart: true, timedDuring: null })).toContain("the server's timed ones could not be counted");
    // Results written before the checkpoints were recorded say nothing of them.
    expect(md(undefined)).not.toContain('PostgreSQL checkpoints');
  });

  it("says the same of each call set-up topology's set-ups, whose difference is the routing cost", () => {
    const setups = (timedDuring: number) => ({
      calls: 1,
      failed: 0,
      total: latency,
      server: latency,
      client: latency,
      byRequest: {},
      gatewayCpuMsPerCall: 1,
      gatewayCpuMsPerSetup: 1,
      gatewayCpuMsPerHangup: 1,
      warmupCalls: 1,
      method: 'm',
      checkpoints: { forcedAtStart: true, timedDuring },
    });
    const md = renderMarkdown({ startedAt: 't', quick: true, machine, callSetup: setups(0), callSetupSplit: setups(1) });
    const one = md.slice(0, md.indexOf('## Call set-up with the room on another process'));
    const split = md.slice(md.indexOf('## Call set-up with the room on another process'));
    expect(one).toContain("PostgreSQL checkpoints: one forced before the set-ups; none of the server's timed ones during them.");
    expect(split).toContain("one forced before the set-ups; 1 of the server's timed ones started during them");
    expect(md).not.toContain('The machine over the calls');
    const machineUse = {
      cores: 2,
      busyCores: 0.61,
      stealCores: 0,
      loadGeneratorUsPerOp: 1234,
      servicesUsPerOp: { 'mediasoup-worker': 900 },
    };
    expect(renderMarkdown({ startedAt: 't', quick: true, machine, callSetup: { ...setups(0), machine: machineUse } })).toContain(
      'The machine over the calls: 0.61 of 2 cores busy (0 taken by the host); ms of CPU per call of the load generator and the services: ' +
        'load generator 1.23, mediasoup-worker 0.90.',
    );
  });
});

describe("the suites' checkpoint", () => {
  /** Checkpoints asked for so far (the server reports each once it is done). */
  const requestedCheckpoints = async () => (await checkpointCounts())!.requested;

  it('checkpoints the scratch server first, so none of its timed ones starts in the next stages', async () => {
    const before = await requestedCheckpoints();
    const suite = await startAfterCheckpoint();
    await expect(suite.end()).resolves.toEqual({ forcedAtStart: true, timedDuring: 0 });
    for (let waited = 0; (await requestedCheckpoints()) === before && waited < 5000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    expect(await requestedCheckpoints()).toBeGreaterThan(before);
  });

  it('lets the suite run on when its role may not checkpoint, still counting the timed ones', async () => {
    const role = `bench_${crypto.randomBytes(4).toString('hex')}`;
    await onDatabaseServer((c) => c.query(`CREATE ROLE ${role} LOGIN`));
    try {
      const url = new URL(SCRATCH_SERVER_URL);
      url.username = role;
      const suite = await startAfterCheckpoint(url.toString());
      await expect(suite.end()).resolves.toEqual({ forcedAtStart: false, timedDuring: 0 });
    } finally {
      await onDatabaseServer((c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('lets the suite run on when the server cannot be reached', async () => {
    const suite = await startAfterCheckpoint('postgresql://postgres@127.0.0.1:1/postgres');
    await expect(suite.end()).resolves.toEqual({ forcedAtStart: false, timedDuring: null });
  });
});

describe('video cost and the exit code', () => {
  const machine = { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v' };
  const cost = (cpu: number, bytes: number) => ({
    calls: 10,
    seconds: 10,
    workerCores: cpu / 1e5,
    workerCpuUsPerCallSecond: cpu,
    bytesPerCallMinute: bytes,
    packetsPerSecond: 100,
    lossRatio: 0,
  });

  it('puts voice and video calls side by side with their ratios', () => {
    const pair = { voice: cost(100, 2 * 2 ** 20), video: cost(400, 36 * 2 ** 20), cpuRatio: 4, bytesRatio: 18 };
    const md = renderMarkdown({
      startedAt: 't',
      quick: true,
      machine,
      videoCost: {
        options: { calls: 10, warmupMs: 1, measureMs: 1 },
        video: { fps: 15, width: 640, height: 480, approxKbps: 890 },
        bare: pair,
        gateway: { unavailable: 'no gateway' },
      },
    });
    expect(md).toContain('## Video cost: 10 voice calls and 10 video calls (VP8 640x480 at 15 fps, ~890 kbit/s each way)');
    expect(md).toContain('| bare 3.12 worker | voice | 0.001 | 100 | 2.00 MiB | 100 | 0.00 % |');
    expect(md).toContain('| bare 3.12 worker | video ÷ voice | | 4× | 18× | | |');
    expect(md).toContain('Through the gateway: not measured: no gateway');
  });

  it('fails the run when a suite failed', () => {
    expect(benchExitCode({ startedAt: 't', quick: true, machine })).toBe(0);
    expect(benchExitCode({ startedAt: 't', quick: true, machine, failures: { videoCost: 'boom' } })).toBe(1);
  });
});

describe("the report's performance targets", () => {
  type SuiteResults = Parameters<typeof renderMarkdown>[0];
  const machine = { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v' };
  const latency = (p50: number, p99 = p50) => ({ count: 1, p50, p90: p99, p99, max: p99, mean: p50 });
  const setup = (total: number, server: number, gatewayCpuMsPerSetup: number) => ({
    calls: 1,
    failed: 0,
    total: latency(total),
    server: latency(server),
    client: latency(total - server),
    byRequest: {},
    gatewayCpuMsPerCall: gatewayCpuMsPerSetup + 1,
    gatewayCpuMsPerSetup,
    gatewayCpuMsPerHangup: 1,
    warmupCalls: 1,
    method: 'm',
  });
  const messages = (two: { rate: number; cpu: number }, ofDbInserts: number, cpuOfRelay: number, p99: number) =>
    ({
      databaseCeiling: { tool: 'pgbench', clients: 1, seconds: 1, insertsPerSec: 100, seqTransactionsPerSec: 90 },
      persisted: { deliveredPerSec: 100, deliveryLatencyMs: latency(10, p99) },
      scalingRatios: [{ processes: 2, ...two }],
      ratios: { ofRelay: 0.2, ofDbInserts, ofDbSeqTransactions: 1, cpuOfRelay },
    }) as unknown as SuiteResults['messages'];
  const idle = (retainedPerSocketKiB: number) => ({ retainedPerSocketKiB }) as SuiteResults['idleSockets'];
  const run = (over: Partial<SuiteResults> = {}): SuiteResults => ({
    startedAt: 't',
    quick: false,
    machine,
    callSetup: setup(4, 3.5, 3),
    callSetupSplit: setup(5, 6.5, 3),
    // Every target exactly at its limit, where the limit itself passes.
    messages: messages({ rate: 1, cpu: 1.3 }, 0.75, 4, 49.99),
    idleSockets: idle(12),
    ...over,
  });

  it('reads each target the run measured, its limit included, and says which were missed', () => {
    expect(targetReadings(run()).map((t) => [t.reading, t.met])).toEqual([
      ['4.00 ms', true],
      ['3.50 ms', true],
      ['3.00 ms', true],
      ['+3.00 ms', true],
      ['100.0 %', true],
      ['1.3×', true],
      ['12 KiB', true],
      ['75.0 %', true],
      ['4×', true],
      ['49.99 ms', true],
    ]);
    // The report's paragraph reads the same difference as the table.
    expect(renderMarkdown(run({ messages: undefined }))).toContain(
      'Routing cost: server p50 3.00 ms more than one process (target ≤ 3 ms).',
    );
    const md = targetsSection(run({ messages: messages({ rate: 0.999, cpu: 1.31 }, 0.74, 4.01, 50), idleSockets: idle(12.1) })).join('\n');
    expect(md).toContain("| two gateway processes: rate ≥ one's | 99.9 % | **no** |");
    expect(md).toContain("| two gateway processes: CPU per DM ≤ 1.3× one's | 1.31× | **no** |");
    expect(md).toContain('| DM delivery p99 < 50 ms | 50.00 ms | **no** |');
    expect(md).toContain(
      "4 of 10 met; missed: two gateway processes: rate ≥ one's; two gateway processes: CPU per DM ≤ 1.3× one's; " +
        "idle socket ≤ 12 KiB; persisted DMs ≥ 75 % of single-row inserts; gateway CPU per DM ≤ 4× the relay's per message; " +
        'DM delivery p99 < 50 ms.',
    );
  });

  it("writes the targets it read into the run's JSON, which a summary reads as it reads the run", () => {
    const missing = run({ messages: messages({ rate: 0.999, cpu: 1.31 }, 0.8, 3, 40) });
    const file = JSON.parse(resultsJson(missing)) as SuiteResults & { targets: unknown };
    expect(file.targets).toEqual(targetReadings(missing));
    expect(file.targets).toContainEqual({ target: "two gateway processes: rate ≥ one's", reading: '99.9 %', met: false });
    expect(file.callSetup).toEqual(missing.callSetup);
    expect(summariseRuns([file])).toEqual(summariseRuns([missing]));
  });

  it('leaves out the targets of suites that did not run or failed, and says a quick run is too short for them', () => {
    const setupOnly = run({ messages: undefined, idleSockets: undefined, callSetupSplit: { calls: 0, unavailable: 'no Redis' } });
    expect(targetReadings(setupOnly).map((t) => t.target)).toEqual([
      'invite → first audio p50 ≤ 20 ms',
      'set-up server share p50 ≤ 8 ms',
      'gateway CPU per set-up ≤ 8 ms',
    ]);
    const md = renderMarkdown({ ...setupOnly, quick: true, callSetup: setup(21, 3.5, 3) });
    expect(md.indexOf('## Performance targets in this run')).toBeLessThan(md.indexOf('## Call set-up'));
    expect(md).toContain('2 of 3 met; missed: invite → first audio p50 ≤ 20 ms. A quick run is too short to read the targets by');
    expect(renderMarkdown({ startedAt: 't', quick: false, machine })).not.toContain('## Performance targets');
  });

  it("summarises several runs: each target's range, median and runs that met it, and the runs that met every target", () => {
    const runs = [
      run({
        startedAt: 'b',
        messages: messages({ rate: 0.98, cpu: 1.35, cpuAgainstLoadGenerator: 1.28 } as never, 1.2, 2.5, 30),
        callSetup: setup(25, 3.5, 3),
      }),
      run({ startedAt: 'a', messages: messages({ rate: 1, cpu: 1.3, cpuAgainstLoadGenerator: 1.35 } as never, 0.75, 4, 49.99) }),
      // A run of the call set-ups only, meeting theirs: counted for them, never as meeting every target.
      run({ startedAt: 'c', messages: undefined, idleSockets: undefined }),
    ];
    const summary = summariseRuns(runs);
    expect(summary.runs).toBe(3);
    expect(summary.everyTargetMet).toEqual(['a']);
    expect(summary.tallies.find((t) => t.target.startsWith('invite'))).toEqual({
      target: 'invite → first audio p50 ≤ 20 ms',
      measured: 3,
      met: 2,
      range: '4.00 ms to 25.00 ms',
      median: '4.00 ms',
    });
    // An even count's median lies between its middle two readings.
    expect(summary.tallies.find((t) => t.target.includes('CPU per DM ≤ 1.3×'))).toMatchObject({
      measured: 2,
      met: 1,
      range: '1.3× to 1.35×',
      median: '1.325×',
    });
    expect(summary.twoGatewaysAgainstLoadGenerator).toEqual({ measured: 2, withinLimit: 1, range: '1.28× to 1.35×', median: '1.315×' });
    expect(summary.tallies.find((t) => t.target.startsWith('idle'))).toMatchObject({ measured: 2, met: 2, range: '12 KiB' });

    const noTarget = run({ startedAt: 'e', messages: undefined, idleSockets: undefined, callSetup: undefined, callSetupSplit: undefined });
    const md = renderSummary([...runs, run({ startedAt: 'd', quick: true }), noTarget]);
    expect(md).toContain('# The performance targets over 3 runs');
    expect(md).toContain('From a to c.');
    expect(md).toContain('1 run left out as quick: too short to judge the targets by.');
    expect(md).toContain('1 run left out that measured no target (suites chosen with --only).');
    expect(md).toContain("| two gateway processes: rate ≥ one's | 98.0 % to 100.0 % | 99.0 % | 1 of 2 |");
    expect(md).toContain(
      "load generator's (a reading beside the target, which is judged on the plain ratio): 1.28× to 1.35×, median 1.315×; at most 1.3× in 1 of 2.",
    );
    expect(md).toContain('Every target met in 1 of 3: a; at most 1 in a row.');
    expect(renderSummary([])).toContain('No run measured a target.');
  });

  it('names the stages that other programs shared the cores with, in the run and over several runs', () => {
    const use = (otherCores?: number) => ({
      cores: 2,
      busyCores: 1.9,
      stealCores: 0,
      otherCores,
      loadGeneratorUsPerOp: 1,
      servicesUsPerOp: {},
    });
    const plain = messages({ rate: 1, cpu: 1.3 }, 0.75, 4, 49.99)!;
    const shared = run({
      startedAt: 'b',
      messages: {
        ...plain,
        databaseCeiling: { ...plain.databaseCeiling, machine: use(0.93) },
        persisted: { ...plain.persisted, machine: use(0.05) },
        // Read before other programs were: nothing to say of it.
        scaling: [
          { processes: 1, ...plain.persisted, machine: use() },
          { processes: 2, ...plain.persisted, machine: use(0.3) },
        ],
      } as SuiteResults['messages'],
      callSetup: { ...setup(4, 3.5, 3), machine: use(0.29) },
    });
    expect(stagesSharedWithOtherPrograms(shared)).toEqual([
      { stage: 'database inserts', otherCores: 0.93 },
      { stage: '2 on Redis', otherCores: 0.3 },
    ]);
    expect(targetsSection(shared).join('\n')).toContain(
      'Other programs kept cores busy beside the run, in cores on average: database inserts 0.93, 2 on Redis 0.3. ' +
        'Those stages ran on less of the machine than the others',
    );
    expect(stagesSharedWithOtherPrograms(run())).toEqual([]);
    expect(targetsSection(run()).join('\n')).not.toContain('Other programs');

    expect(summariseRuns([shared, run({ startedAt: 'a' })]).sharedWithOtherPrograms).toEqual([
      { startedAt: 'b', stages: stagesSharedWithOtherPrograms(shared) },
    ]);
    expect(renderSummary([shared, run({ startedAt: 'a' })])).toContain(
      'Other programs kept at least 0.3 of a core busy beside 1 run, in cores on average by stage: b (database inserts 0.93, 2 on Redis 0.3).',
    );
    expect(renderSummary([run({ startedAt: 'a' })])).not.toContain('Other programs');
  });

  it('counts the runs that met every target in a row in the order they started, whatever order they are given in', () => {
    const missing = (startedAt: string) => run({ startedAt, messages: messages({ rate: 0.9, cpu: 1.5 }, 1, 2, 30) });
    // In the order given, at most two in a row; in the order they started (a to f), b, c and d.
    const runs = [
      run({ startedAt: 'b' }),
      missing('e'),
      run({ startedAt: 'c' }),
      missing('a'),
      run({ startedAt: 'd' }),
      run({ startedAt: 'f' }),
    ];
    const summary = summariseRuns(runs);
    expect(summary.everyTargetMet.sort()).toEqual(['b', 'c', 'd', 'f']);
    expect(summary.everyTargetMetInARow).toBe(3);
    expect(summariseRuns([missing('a')]).everyTargetMetInARow).toBe(0);
    // The fixture's runs carry no reading against the load generator: no line for it.
    expect(summary.twoGatewaysAgainstLoadGenerator).toBeUndefined();
    expect(renderSummary(runs)).not.toContain("read against its load generator's");
  });

  it("reads the results files it is given, or every run's in a folder but the capacity checks', and refuses anything else by name", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-summary-'));
    try {
      const write = (name: string, body: unknown) => {
        fs.writeFileSync(path.join(dir, name), JSON.stringify(body));
        return path.join(dir, name);
      };
      const first = write('2026-01-02T00-00-00-000Z.json', run({ startedAt: '2026-01-02' }));
      write('2026-01-01T00-00-00-000Z.json', run({ startedAt: '2026-01-01' }));
      write('capacity-check-2026-01-03.json', { at: 'x' });
      expect(benchRunFiles(dir).map((f) => path.basename(f))).toEqual(['2026-01-01T00-00-00-000Z.json', '2026-01-02T00-00-00-000Z.json']);
      expect(benchRunFiles(path.join(dir, 'none'))).toEqual([]);
      expect(readRun(first).startedAt).toBe('2026-01-02');

      const written: string[] = [];
      const out = jest.spyOn(process.stdout, 'write').mockImplementation((s) => written.push(String(s)) > 0);
      const err = jest.spyOn(process.stderr, 'write').mockImplementation((s) => written.push(String(s)) > 0);
      try {
        expect(main([first])).toBe(0);
        expect(written.join('')).toContain('Every target met in 1 of 1: 2026-01-02; at most 1 in a row.');
        written.length = 0;
        expect(main([first, write('other.json', { hello: 1 })])).toBe(2);
        expect(written.join('')).toBe(
          `bench:summary: ${path.join(dir, 'other.json')}: not the results of npm run bench (no startedAt and machine)\n`,
        );
        written.length = 0;
        expect(main([path.join(dir, 'missing.json')])).toBe(2);
        expect(written.join('')).toContain('missing.json: ENOENT');
        expect(main(['--all'])).toBe(2);
      } finally {
        out.mockRestore();
        err.mockRestore();
      }
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
