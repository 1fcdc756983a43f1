import fs from 'node:fs';

// Linux /proc: utime and stime are in clock ticks, 100 per second on every kernel we run.
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields after it start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Average cores used by some processes between start() and stop(). */
export class CpuMeter {
  private startCpu = new Map<number, number>();
  private startedAt = 0;

  constructor(private readonly pids: number[]) {}

  start(): this {
    this.startedAt = performance.now();
    this.startCpu = new Map(this.pids.map((p) => [p, cpuSeconds(p)]));
    return this;
  }

  /** Cores per pid (1.0 = one core fully busy). */
  stop(): Record<number, number> {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const out: Record<number, number> = {};
    for (const pid of this.pids) out[pid] = Math.round(((cpuSeconds(pid) - this.startCpu.get(pid)!) / seconds) * 1000) / 1000;
    return out;
  }
}

export function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
