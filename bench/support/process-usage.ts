import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Linux /proc: utime and stime (and /proc/stat's counts) are in clock ticks, 100 per second on every kernel we run.
export const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = userAndSystemSeconds(pid);
  return user + system;
}

/** CPU seconds a process has used so far in its own code (utime) and in the kernel for it (stime). */
function userAndSystemSeconds(pid: number): { user: number; system: number } {
  return parseProcessStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** A /proc/PID/stat line: the command name (its first 15 characters), the parent, the CPU seconds used in user code and in the kernel, and its exited children's. */
export function parseProcessStat(stat: string): {
  command: string;
  parent: number;
  user: number;
  system: number;
  /** CPU seconds of its children that exited and it waited for (user + system). */
  reapedChildren: number;
  /** When it started, in ticks since boot: with the pid, which process this is (pids are reused). */
  startTicks: number;
} {
  // The command name may contain spaces and brackets; fields after it start at the last ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    parent: Number(fields[1]),
    user: Number(fields[11]) / TICKS_PER_SECOND,
    system: Number(fields[12]) / TICKS_PER_SECOND,
    reapedChildren: (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND,
    startTicks: Number(fields[19]),
  };
}

/**
 * CPU seconds a process has used so far, to the nanosecond: the run time
 * the scheduler accounts each of its threads (/proc/PID/task/TID/schedstat),
 * summed. For short intervals (one call's set-up), where the 10 ms ticks of
 * cpuSeconds would be most of the reading. Threads that already exited are
 * not counted, so compare readings of one long-lived process.
 */
export function preciseCpuSeconds(pid: number): number {
  let ns = 0;
  for (const schedstat of liveThreadFiles(pid, 'schedstat')) ns += Number(schedstat.split(' ')[0]);
  return ns / 1e9;
}

/**
 * A process's main thread (where its JavaScript runs), as the scheduler
 * accounts it so far, in seconds (/proc/PID/task/PID/schedstat): `running`
 * on a core, and `waitingForCore`, runnable but waiting in a run queue while
 * other threads had the cores. A request's time in the process is the first,
 * the second, and what it awaits from other processes.
 */
export function mainThreadSchedule(pid: number): MainThreadTime {
  const [running, waiting] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ');
  return { running: Number(running) / 1e9, waitingForCore: Number(waiting) / 1e9 };
}

/** What a process did per second over a window in which nobody asked it anything (usageAtRest). */
export interface UsageAtRest {
  /** CPU of all its threads. */
  cpuMsPerSecond: number;
  mainThreadMsPerSecond: number;
  /** Of all its live threads (processActivity). */
  switchesPerSecond: number;
}

/** Each process's usage over one window of `seconds`, all read over the same window; to 0.1. */
export async function usageAtRest(pids: number[], seconds: number): Promise<UsageAtRest[]> {
  const read = (pid: number) => ({
    cpuSeconds: preciseCpuSeconds(pid),
    mainThreadSeconds: mainThreadSchedule(pid).running,
    switches: processActivity(pid)?.contextSwitches ?? NaN,
  });
  const before = pids.map(read);
  await sleep(seconds * 1000);
  const perSecond = (v: number) => Math.round((v / seconds) * 10) / 10;
  return pids.map((pid, i) => {
    const after = read(pid);
    return {
      cpuMsPerSecond: perSecond((after.cpuSeconds - before[i].cpuSeconds) * 1000),
      mainThreadMsPerSecond: perSecond((after.mainThreadSeconds - before[i].mainThreadSeconds) * 1000),
      switchesPerSecond: perSecond(after.switches - before[i].switches),
    };
  });
}

/** A main thread's time on a core and waiting for one (seconds, or ms per operation where said). */
export interface MainThreadTime {
  running: number;
  waitingForCore: number;
}

/** The file `name` of each of the process's threads (/proc/PID/task/TID/name), skipping threads that end meanwhile. */
function liveThreadFiles(pid: number, name: string): string[] {
  const contents: string[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      contents.push(fs.readFileSync(`/proc/${pid}/task/${tid}/${name}`, 'utf8'));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return contents;
}

/**
 * How often a process was switched out (voluntarily or not, all its live
 * threads) and how many read and write calls it made so far
 * (/proc/PID/task/TID/status, /proc/PID/io). Beside CPU per operation they
 * show where a deployment's extra cost comes from: a process taken off its
 * core more often (preempted while it had work, or waking for less work)
 * resumes on colder caches each time, which is dear on some virtual
 * machines. Undefined where /proc does not tell.
 */
export function processActivity(pid: number): ProcessActivity | undefined {
  try {
    const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    const ioCalls = Number(/syscr: (\d+)/.exec(io)?.[1]) + Number(/syscw: (\d+)/.exec(io)?.[1]);
    let contextSwitches = 0;
    let preemptions = 0;
    for (const status of liveThreadFiles(pid, 'status')) {
      const involuntary = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      contextSwitches += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) + involuntary;
      preemptions += involuntary;
    }
    const systemSeconds = userAndSystemSeconds(pid).system;
    return Number.isFinite(ioCalls) ? { contextSwitches, preemptions, ioCalls, systemSeconds } : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcessActivity {
  /** Voluntary and involuntary switches of all the process's live threads. */
  contextSwitches: number;
  /** Of those, the involuntary ones: taken off a core while it still had work (another process's turn). */
  preemptions: number;
  /** read-like and write-like system calls (syscr + syscw). */
  ioCalls: number;
  /**
   * CPU seconds spent in the kernel for the process (stime): what its system
   * calls cost, beside its CPU in all. Time a thread spends preempted inside a
   * call is not in it, though a sampling profiler shows it in that call.
   */
  systemSeconds: number;
}

/** CPU seconds of some processes at one moment, and when: what cpuPerOp compares. */
export interface CpuSample {
  wallMs: number;
  cpuSeconds: Record<number, number>;
}

/** Take a CpuSample of the given processes now. */
export function sampleCpu(pids: number[]): CpuSample {
  const cpu: Record<number, number> = {};
  for (const pid of pids) cpu[pid] = cpuSeconds(pid);
  return { wallMs: performance.now(), cpuSeconds: cpu };
}

/**
 * Microseconds of CPU per operation between two samples, for `n` operations
 * done in between: of one process when `pid` is given, else of all the
 * sampled processes together. The clock-tick resolution (10 ms) makes it
 * meaningful only when the interval used well over 10 ms of CPU.
 * NaN when nothing was done.
 */
export function cpuPerOp(before: CpuSample, after: CpuSample, n: number, pid?: number): number {
  if (!(n > 0)) return NaN;
  const pids = pid === undefined ? Object.keys(before.cpuSeconds).map(Number) : [pid];
  let used = 0;
  for (const p of pids) {
    const a = after.cpuSeconds[p];
    const b = before.cpuSeconds[p];
    if (a === undefined || b === undefined) throw new Error(`cpuPerOp: pid ${p} not in both samples`);
    used += a - b;
  }
  return Math.round((used / n) * 1e6 * 10) / 10;
}

/** How many times the ceiling's CPU per operation the measured one is (e.g. 8.3 = 8.3× the ceiling's cost). */
export function cpuRatio(measuredUsPerOp: number, ceilingUsPerOp: number): number {
  return Math.round((measuredUsPerOp / ceilingUsPerOp) * 100) / 100;
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Average cores used by some processes between start() and stop(). */
export class CpuMeter {
  private startSample?: CpuSample;
  /** The sample stop() took, for cpuPerOp against `started`. */
  stopped?: CpuSample;

  constructor(private readonly pids: number[]) {}

  start(): this {
    this.startSample = sampleCpu(this.pids);
    this.stopped = undefined;
    return this;
  }

  /** The sample start() took. */
  get started(): CpuSample {
    if (!this.startSample) throw new Error('CpuMeter: not started');
    return this.startSample;
  }

  /** Cores per pid (1.0 = one core fully busy). */
  stop(): Record<number, number> {
    const before = this.started;
    const after = (this.stopped = sampleCpu(this.pids));
    const seconds = (after.wallMs - before.wallMs) / 1000;
    const out: Record<number, number> = {};
    for (const pid of this.pids) out[pid] = Math.round(((after.cpuSeconds[pid] - before.cpuSeconds[pid]) / seconds) * 1000) / 1000;
    return out;
  }

  /** Microseconds of CPU per operation between start() and stop() (see cpuPerOp). */
  perOp(n: number, pid?: number): number {
    if (!this.stopped) throw new Error('CpuMeter: not stopped');
    return cpuPerOp(this.started, this.stopped, n, pid);
  }
}

export function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
