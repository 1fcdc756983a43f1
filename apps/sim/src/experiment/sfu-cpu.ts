import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Linux /proc reports CPU in clock ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

/** Reads the SFU's CPU seconds so far: where they come from, and a reader (undefined when it cannot be read). */
export interface SfuCpuSource {
  /**
   * `metrics`: the gateway's worker CPU counter; `local-workers`: mediasoup
   * workers that are children of this process, from /proc; `node-gauge`: the
   * media nodes' `media_node_worker_cpu` gauge (cores over the last
   * heartbeat), integrated over time: an estimate, for a remote gateway.
   */
  kind: 'metrics' | 'local-workers' | 'node-gauge';
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

const NODE_GAUGE = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?media_node_worker_cpu(?:\{[^}]*\})?\s+([0-9.eE+-]+)/;

/** Cores the media nodes' workers used over their last heartbeat, summed over nodes; undefined without the gauge. */
export function parseNodeWorkerCpuGauge(text: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const m = NODE_GAUGE.exec(line);
    if (m) total = (total ?? 0) + Number(m[1]);
  }
  return total;
}

async function readMetric(
  urls: string[],
  metricsToken: string | undefined,
  parse: (text: string) => number | undefined,
): Promise<number | undefined> {
  let total = 0;
  for (const url of urls) {
    try {
      const res = await fetch(new URL('/metrics', url), {
        headers: metricsToken ? { authorization: `Bearer ${metricsToken}` } : {},
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) return undefined;
      const v = parse(await res.text());
      if (v === undefined) return undefined;
      total += v;
    } catch {
      return undefined;
    }
  }
  return total;
}

/** CPU seconds from a rate read now and then: each reading's cores stand for the time since the one before. */
export class GaugeIntegral {
  private total = 0;
  private lastAt?: number;

  add(cores: number, atMs: number): number {
    if (this.lastAt !== undefined) this.total += (Math.max(0, cores) * Math.max(0, atMs - this.lastAt)) / 1000;
    this.lastAt = atMs;
    return this.total;
  }
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
 * The gateway's worker CPU counter when it exports one; else, when the
 * gateway runs in this process, its worker processes read from /proc; else
 * the media nodes' CPU gauge, integrated; else undefined.
 */
export async function findSfuCpuSource(urls: string[], metricsToken?: string): Promise<SfuCpuSource | undefined> {
  if ((await readMetric(urls, metricsToken, parseWorkerCpuMetric)) !== undefined) {
    return { kind: 'metrics', read: () => readMetric(urls, metricsToken, parseWorkerCpuMetric) };
  }
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
  if ((await readMetric(urls, metricsToken, parseNodeWorkerCpuGauge)) !== undefined) {
    const integral = new GaugeIntegral();
    return {
      kind: 'node-gauge',
      read: async () => {
        const cores = await readMetric(urls, metricsToken, parseNodeWorkerCpuGauge);
        return cores === undefined ? undefined : integral.add(cores, performance.now());
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
export function cpuPerCallSecond(
  samples: CpuSample[],
  groups: string[],
): { overall: number | null; byGroup: Record<string, number | null> } {
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
