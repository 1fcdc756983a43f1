import fs from 'node:fs';

/** Linux /proc reports CPU in clock ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

/** Reads the SFU's CPU seconds so far: where they come from, and a reader (undefined when it cannot be read). */
export interface SfuCpuSource {
  /** `metrics`: the gateway's /metrics; `local-workers`: mediasoup workers that are children of this process. */
  kind: 'metrics' | 'local-workers';
  read(): Promise<number | undefined>;
}

// The gateway may prefix its metric names (METRICS_PREFIX, e.g. `smb_`).
const METRIC = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?media_worker_cpu_seconds_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)/;

/** Sum of `media_worker_cpu_seconds_total` over every series, or undefined when the gateway does not export it. */
export function parseWorkerCpuMetric(text: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const m = METRIC.exec(line);
    if (m) total = (total ?? 0) + Number(m[1]);
  }
  return total;
}

async function readMetric(urls: string[], metricsToken?: string): Promise<number | undefined> {
  let total = 0;
  for (const url of urls) {
    try {
      const res = await fetch(new URL('/metrics', url), {
        headers: metricsToken ? { authorization: `Bearer ${metricsToken}` } : {},
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) return undefined;
      const v = parseWorkerCpuMetric(await res.text());
      if (v === undefined) return undefined;
      total += v;
    } catch {
      return undefined;
    }
  }
  return total;
}

/** Pids of mediasoup workers whose parent is `parentPid` (the embedded gateway's own workers). */
export function localWorkerPids(parentPid = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (name.startsWith('mediasoup-worke') && Number(fields[1]) === parentPid) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * The gateway's metric when it exports one; else, when the gateway runs in
 * this process, its worker processes read from /proc; else undefined (a run
 * against a remote gateway without the metric cannot see its CPU).
 */
export async function findSfuCpuSource(urls: string[], metricsToken?: string): Promise<SfuCpuSource | undefined> {
  if ((await readMetric(urls, metricsToken)) !== undefined) return { kind: 'metrics', read: () => readMetric(urls, metricsToken) };
  if (process.platform === 'linux' && localWorkerPids().length > 0) {
    return {
      kind: 'local-workers',
      read: async () => {
        // Workers may be replaced during a run: a pid that vanished takes its CPU with it, so sum what is alive now.
        const values = localWorkerPids().map(cpuSecondsOf);
        return values.reduce<number>((sum, v) => sum + (v ?? 0), 0);
      },
    };
  }
  return undefined;
}

/** One reading: SFU CPU seconds so far, the calls carrying media per group then, and the packets each group's clients sent and received so far. */
export interface CpuSample {
  atMs: number;
  cpuSeconds: number;
  active: Record<string, number>;
  packets: Record<string, number>;
}

/**
 * CPU per call-second, overall and per group. The SFU's CPU cannot be
 * split by call directly; an SFU's work goes with the packets it forwards,
 * so each interval's CPU is shared among the groups by the packets their
 * clients sent and received in it, and divided by the group's call-seconds.
 */
export function cpuPerCallSecond(samples: CpuSample[], groups: string[]): { overall: number | null; byGroup: Record<string, number | null> } {
  let cpu = 0;
  let callSeconds = 0;
  const cpuOf: Record<string, number> = Object.fromEntries(groups.map((g) => [g, 0]));
  const secondsOf: Record<string, number> = Object.fromEntries(groups.map((g) => [g, 0]));
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const seconds = (b.atMs - a.atMs) / 1000;
    const dy = b.cpuSeconds - a.cpuSeconds;
    if (seconds <= 0 || dy < 0) continue;
    const packets = groups.map((g) => Math.max(0, (b.packets[g] ?? 0) - (a.packets[g] ?? 0)));
    const total = packets.reduce((s, p) => s + p, 0);
    groups.forEach((g, k) => {
      const cs = (((a.active[g] ?? 0) + (b.active[g] ?? 0)) / 2) * seconds;
      secondsOf[g] += cs;
      callSeconds += cs;
      if (total > 0) cpuOf[g] += (dy * packets[k]) / total;
    });
    cpu += dy;
  }
  const byGroup: Record<string, number | null> = {};
  for (const g of groups) byGroup[g] = secondsOf[g] > 0 ? cpuOf[g] / secondsOf[g] : null;
  return { overall: callSeconds > 0 ? cpu / callSeconds : null, byGroup };
}
