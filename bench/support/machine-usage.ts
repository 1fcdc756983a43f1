import fs from 'node:fs';
import { round } from './latency-samples';
import { parseProcessStat, TICKS_PER_SECOND } from './process-usage';

/**
 * The whole machine's CPU time so far (every core, from /proc/stat) and this
 * benchmark process's own: what machineCpuOver compares.
 */
export interface MachineCpuSample {
  wallMs: number;
  cores: number;
  /** Seconds the cores ran anything (user, nice, system, interrupts), summed over cores. */
  busySeconds: number;
  /**
   * Seconds a virtual machine's cores were ready to run but the host ran
   * something else (steal): the machine was slower by that much, and no
   * process's CPU shows it.
   */
  stealSeconds: number;
  /** This process (the load generator): every thread, user and system. */
  loadGeneratorSeconds: number;
  /**
   * The processes it started (gateways, media nodes, pgbench), alive or
   * exited, but for those named in SERVICES: see sampleDescendantsCpu.
   */
  childrenSeconds: number;
  /**
   * The kernel's own threads: the network's work when the cores are too
   * busy to do it at once (ksoftirqd), writing files back. Mostly the run's.
   */
  kernelThreadsSeconds: number;
  /** The processes named in SERVICES (PostgreSQL's backends, say): compare two with servicesCpuBetween. */
  services: ServicesCpu;
}

/** The CPU so far of every process of the SERVICES, and of their children that exited. */
export interface ServicesCpu {
  /** By pid and start time (a pid may be reused in between). */
  processes: Map<string, { name: string; pid: number; parent: number; seconds: number }>;
  /** By service: CPU seconds of its processes' children that exited and were waited for. */
  reaped: Record<string, number>;
}

/** The services beside the gateways whose CPU is read, by the command name the kernel knows them by. */
const SERVICES = ['postgres', 'redis-server', 'mediasoup-worker'] as const;
const COMMAND_NAME_CHARS = 15;

/** Where the machine's cores went over an interval. */
export interface MachineCpuUse {
  cores: number;
  /** Cores busy on average, whatever ran on them. */
  busyCores: number;
  /** Cores taken by the host on average (see MachineCpuSample.stealSeconds). */
  stealCores: number;
  /**
   * Cores busy on average with programs the run did not start: neither the
   * load generator, its child processes, SERVICES nor the kernel's threads.
   * Up to about 0.2 on a machine left to the run; a busy program
   * beside it reads about half a core or more, and the stage's figures are
   * then not the machine's own. Absent from results written before it was
   * read.
   */
  otherCores?: number;
  /** The load generator's CPU per operation, in microseconds. */
  loadGeneratorUsPerOp: number;
  /** Each of SERVICES that ran in between, per operation in microseconds (see servicesCpuBetween). */
  servicesUsPerOp: Record<string, number>;
}

/** The machine's CPU now; undefined where /proc/stat does not tell (not Linux). */
export function sampleMachineCpu(): MachineCpuSample | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const lines = stat.split('\n');
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (guest is inside user).
  const [user, nice, system, , , irq, softirq, steal] = lines[0].split(/\s+/).slice(1).map(Number);
  if (![user, nice, system, irq, softirq, steal].every(Number.isFinite)) return undefined;
  const own = process.cpuUsage();
  return {
    wallMs: performance.now(),
    cores: lines.filter((l) => /^cpu\d+ /.test(l)).length,
    busySeconds: (user + nice + system + irq + softirq) / TICKS_PER_SECOND,
    stealSeconds: steal / TICKS_PER_SECOND,
    loadGeneratorSeconds: (own.user + own.system) / 1e6,
    ...sampleProcessesCpu(),
  };
}

/** What sampleProcessesCpu reads of /proc: the process ids, and a process's stat line (undefined once it is gone). */
export interface ProcessTable {
  pids(): string[];
  stat(pid: string): string | undefined;
}

const PROC: ProcessTable = {
  pids: () => fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)),
  stat: (pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined; // exited since the listing
    }
  },
};

/** Scans of /proc tried before one is taken even though a child was waited for during it. */
const SCAN_ATTEMPTS = 6;

/** The parent of every kernel thread (kthreadd), where the kernel's threads are visible. */
const KERNEL_THREADS_PARENT = 2;

/** The service a process is, by the command name the kernel keeps: its first 15 characters ("mediasoup-worke"). */
const serviceNamed = (command: string) => SERVICES.find((service) => service.slice(0, COMMAND_NAME_CHARS) === command);

/** Whether two sums of reaped time are the same, to within half a clock tick (they are sums of ticks). */
const sameTicks = (a: number, b: number) => Math.abs(a - b) < 0.5 / TICKS_PER_SECOND;

/** Every process /proc lists, its stat line parsed, by pid: one reading of the process table. */
type ProcessStats = Map<number, ReturnType<typeof parseProcessStat>>;

function readProcessStats(table: ProcessTable): ProcessStats {
  const all: ProcessStats = new Map();
  for (const pid of table.pids()) {
    const stat = table.stat(pid);
    if (stat !== undefined) all.set(Number(pid), parseProcessStat(stat));
  }
  return all;
}

/** What a machine sample reads of the processes: the services, and the load generator's and the kernel's processes. */
export interface ProcessesCpu {
  services: ServicesCpu;
  /** See MachineCpuSample.childrenSeconds. */
  childrenSeconds: number;
  /** See MachineCpuSample.kernelThreadsSeconds. */
  kernelThreadsSeconds: number;
}

/**
 * The services' CPU, and that of the processes `root` started and of the
 * kernel's threads (sampleDescendantsCpu), all from one reading of /proc.
 * A child waited for while /proc is read would be counted twice (read
 * alive, then again in its parent's reaped time) or not at all (its parent
 * read first, then it gone), and a reading of PostgreSQL's CPU came out
 * below 0. So a reading is taken only when the reaped time of each service
 * and of each tree is the same in the readings just before and just after
 * it: no child was waited for while it was read. After SCAN_ATTEMPTS
 * readings, the last one whatever.
 */
export function sampleProcessesCpu(table: ProcessTable = PROC, root = process.pid): ProcessesCpu {
  const read = () => {
    const all = readProcessStats(table);
    const services = servicesIn(all);
    const children = descendantsIn(all, root);
    const kernelThreads = descendantsIn(all, KERNEL_THREADS_PARENT);
    const cpu: ProcessesCpu = { services, childrenSeconds: children.seconds, kernelThreadsSeconds: kernelThreads.seconds };
    return { cpu, reaped: [...SERVICES.map((name) => services.reaped[name]), children.reaped, kernelThreads.reaped] };
  };
  let earlier = read();
  let taken = read();
  for (let attempt = 2; attempt < SCAN_ATTEMPTS; attempt++) {
    const later = read();
    if (earlier.reaped.every((seconds, i) => sameTicks(seconds, later.reaped[i]))) return taken.cpu;
    [earlier, taken] = [taken, later];
  }
  return taken.cpu;
}

/**
 * CPU seconds so far of the processes `root` started and their own, alive
 * or exited and waited for, but for those named in SERVICES (a gateway's
 * mediasoup workers are read as a service). Summed with the exited ones'
 * time in their parents' account, which holds each one's whole life: a
 * child that exits between two samples counts once, with no pid to follow.
 */
export function sampleDescendantsCpu(table: ProcessTable = PROC, root = process.pid): number {
  return sampleProcessesCpu(table, root).childrenSeconds;
}

/** The CPU (user + system) of every process named in SERVICES, and of their exited children: see sampleProcessesCpu. */
export function sampleServicesCpu(table: ProcessTable = PROC): ServicesCpu {
  return sampleProcessesCpu(table).services;
}

/** The descendants' CPU so far (sampleDescendantsCpu) in one reading, and the part of it their parents' reaped time holds. */
function descendantsIn(all: ProcessStats, root: number): { seconds: number; reaped: number } {
  const startedByRoot = (pid: number): boolean => {
    // At most as many steps as processes: a pid reused while /proc was read cannot make it loop.
    let p = all.get(pid)?.parent;
    for (let steps = 0; p !== undefined && p > 1 && steps < all.size; steps++, p = all.get(p)?.parent) if (p === root) return true;
    return false;
  };
  let alive = 0;
  // The root's waited-for children, then each descendant's.
  let reaped = all.get(root)?.reapedChildren ?? 0;
  for (const [pid, p] of all) {
    if (pid === root || serviceNamed(p.command) || !startedByRoot(pid)) continue;
    alive += p.user + p.system;
    reaped += p.reapedChildren;
  }
  return { seconds: alive + reaped, reaped };
}

function servicesIn(all: ProcessStats): ServicesCpu {
  const services: ServicesCpu = { processes: new Map(), reaped: Object.fromEntries(SERVICES.map((name) => [name, 0])) };
  for (const [pid, { command, parent, user, system, reapedChildren, startTicks }] of all) {
    const name = serviceNamed(command);
    if (!name) continue;
    services.processes.set(`${pid}@${startTicks}`, { name, pid, parent, seconds: user + system });
    services.reaped[name] += reapedChildren;
  }
  return services;
}

/**
 * CPU seconds each service used between two samples. A process that
 * started in between counts whole. One that exited counts when one of the
 * services' processes waited for it (PostgreSQL's postmaster reaps every
 * backend): its whole life is then in its parent's reaped time, less what
 * it had used before. Otherwise only its part in between is missed. (A sum
 * over the processes alive at each sample instead took an exited backend's
 * whole earlier CPU off the interval: readings came out low, even below 0.)
 */
export function servicesCpuBetween(before: ServicesCpu, after: ServicesCpu): Record<string, number> {
  const used: Record<string, number> = Object.fromEntries(SERVICES.map((name) => [name, 0]));
  for (const [key, p] of after.processes) used[p.name] += p.seconds - (before.processes.get(key)?.seconds ?? 0);
  for (const name of SERVICES) used[name] += (after.reaped[name] ?? 0) - (before.reaped[name] ?? 0);
  const alive = new Map([...after.processes.values()].map((p) => [p.pid, p]));
  for (const [key, p] of before.processes) {
    if (after.processes.has(key)) continue;
    const parent = alive.get(p.parent);
    if (parent) used[parent.name] -= p.seconds;
  }
  return used;
}

/**
 * The machine between two samples, for `ops` operations. Undefined when
 * either sample is missing or nothing was done. Busy and steal are the
 * kernel's 10 ms ticks, so within a few hundredths of a core; each
 * process's CPU is the scheduler's own account of it.
 */
export function machineCpuOver(
  before: MachineCpuSample | undefined,
  after: MachineCpuSample | undefined,
  ops: number,
): MachineCpuUse | undefined {
  if (!before || !after || !(ops > 0)) return undefined;
  const seconds = (after.wallMs - before.wallMs) / 1000;
  const perOp = (s: number) => round((s / ops) * 1e6, 1);
  const servicesUsPerOp: Record<string, number> = {};
  let servicesSeconds = 0;
  for (const [name, part] of Object.entries(servicesCpuBetween(before.services, after.services))) {
    if (part > 0) servicesUsPerOp[name] = perOp(part);
    servicesSeconds += part;
  }
  const between = (field: keyof Omit<MachineCpuSample, 'services'>) => after[field] - before[field];
  // Softirq work done in a process's own time is in both its CPU and the machine's interrupt ticks, so
  // nothing is taken off for interrupts. Busy is 10 ms ticks, each process's CPU too: a machine left to
  // the run reads a few ticks either side of 0, and below it reads as none.
  const otherSeconds = Math.max(
    0,
    between('busySeconds') -
      between('loadGeneratorSeconds') -
      between('childrenSeconds') -
      between('kernelThreadsSeconds') -
      servicesSeconds,
  );
  return {
    cores: after.cores,
    busyCores: round(between('busySeconds') / seconds, 2),
    stealCores: round(between('stealSeconds') / seconds, 3),
    ...(Number.isFinite(otherSeconds) && { otherCores: round(otherSeconds / seconds, 2) }),
    loadGeneratorUsPerOp: perOp(after.loadGeneratorSeconds - before.loadGeneratorSeconds),
    servicesUsPerOp,
  };
}

/** "1.93 of 2 cores busy (0.01 taken by the host, 0.02 by other programs)". */
export function describeMachineBusy(m: MachineCpuUse): string {
  const other = m.otherCores === undefined ? '' : `, ${m.otherCores} by other programs`;
  return `${m.busyCores} of ${m.cores} cores busy (${m.stealCores} taken by the host${other})`;
}

/** "load generator 29.0, postgres 70.1, redis-server 1.2", in `scale`d units of the per-operation µs. */
export function describeCpuBeside(m: MachineCpuUse, scale = 1, digits = 1): string {
  const parts = [['load generator', m.loadGeneratorUsPerOp] as const, ...Object.entries(m.servicesUsPerOp)];
  return parts.map(([name, us]) => `${name} ${(us / scale).toFixed(digits)}`).join(', ');
}
