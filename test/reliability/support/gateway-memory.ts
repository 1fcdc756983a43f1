import { readFile } from 'node:fs/promises';
import { sleep } from '../../support/wait';

/**
 * One reading of a gateway process: its /metrics gauges (prom-client's
 * default process and V8 metrics plus the media counts) and the kernel's
 * view of its memory from /proc, which tells anonymous memory (heaps,
 * malloc arenas) from file-backed mappings (code, shared libraries).
 */
export interface GatewaySample {
  atMs: number;
  rss: number;
  /** V8's committed heap (what the heap holds from the OS) and its live part. */
  heapTotal: number;
  heapUsed: number;
  /** Memory outside the V8 heap that JS objects keep alive (Buffers, ArrayBuffers). */
  external: number;
  /** Committed size of each V8 heap space (new, old, code, large_object, ...). */
  spaces: Record<string, number>;
  activeHandles: number;
  /** The process's mediasoup objects; absent from a process without media (NODE_ROLE=gateway). */
  media?: MediaCounts;
  /** From /proc/<pid>/status: resident anonymous and file-backed memory (absent off Linux). */
  rssAnon?: number;
  rssFile?: number;
  /** Anonymous mappings of 64 MiB reservations: glibc malloc arenas (one per thread that allocated, up to 8 × cores). */
  arenas?: number;
}

export interface MediaCounts {
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

function gauges(text: string) {
  return (name: string, label?: string): number => {
    const labels = label ? `\\{[^}]*${label}[^}]*\\}` : '(?:\\{[^}]*\\})?';
    const m = new RegExp(`^${name}${labels} ([0-9.eE+-]+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name}${label ? `{${label}}` : ''} missing from /metrics`);
    return Number(m[1]);
  };
}

async function procMemory(pid: number): Promise<Pick<GatewaySample, 'rssAnon' | 'rssFile' | 'arenas'>> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    // A malloc arena is a 64 MiB-aligned reservation: its used part (rw-p) followed by the rest (---p).
    const maps = (await readFile(`/proc/${pid}/maps`, 'utf8')).split('\n');
    let arenas = 0;
    for (let i = 0; i < maps.length; i++) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0\s*$/.exec(maps[i]);
      if (!m) continue;
      const start = parseInt(m[1], 16);
      if (start % 2 ** 26 !== 0) continue;
      const next = /^([0-9a-f]+)-([0-9a-f]+) ---p 00000000 00:00 0\s*$/.exec(maps[i + 1] ?? '');
      const end = next && parseInt(next[1], 16) === parseInt(m[2], 16) ? parseInt(next[2], 16) : parseInt(m[2], 16);
      if (end - start === 2 ** 26) arenas++;
    }
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), arenas };
  } catch {
    return {};
  }
}

/** Reads the gateway at `url` (and, given its pid, its /proc entries). */
export async function sampleGateway(url: string, atMs: number, pid?: number): Promise<GatewaySample> {
  const [text, proc] = await Promise.all([fetch(`${url}/metrics`).then((r) => r.text()), pid ? procMemory(pid) : {}]);
  const value = gauges(text);
  const spaces: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([a-z_]+)"\} ([0-9.eE+-]+)$/gm)) spaces[m[1]] = Number(m[2]);
  return {
    atMs,
    rss: value('process_resident_memory_bytes'),
    heapTotal: value('nodejs_heap_size_total_bytes'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    external: value('nodejs_external_memory_bytes'),
    spaces,
    activeHandles: value('nodejs_active_handles_total'),
    media: /^media_rooms_open /m.test(text)
      ? {
          routers: value('media_rooms_open'),
          transports: value('media_transports'),
          producers: value('media_producers'),
          consumers: value('media_consumers'),
        }
      : undefined,
    ...proc,
  };
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mb = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? '-' : (bytes / 2 ** 20).toFixed(0));

/** One line a minute (the first sample of each): every figure in MB, so a growth shows where it lives. */
export function memorySeries(samples: GatewaySample[], sampleMs: number): string {
  const every = Math.max(1, Math.round(60_000 / sampleMs));
  const rows = samples
    .filter((_, i) => i % every === 0 || i === samples.length - 1)
    .map(
      (s) =>
        `  ${(s.atMs / 1000).toFixed(0).padStart(5)} s  rss ${mb(s.rss).padStart(4)}  anon ${mb(s.rssAnon).padStart(4)}  file ${mb(s.rssFile).padStart(3)}  ` +
        `heapTotal ${mb(s.heapTotal).padStart(4)} (new ${mb(s.spaces.new)}, old ${mb(s.spaces.old)}, lo ${mb(s.spaces.large_object)})  ` +
        `heapUsed ${mb(s.heapUsed).padStart(4)}  external ${mb(s.external).padStart(3)}  arenas ${s.arenas ?? '-'}`,
    );
  return rows.join('\n');
}

/** Polls until the process holds no mediasoup object (or 10 s pass); returns the last reading. */
export async function mediaSettled(url: string, began: number, pid?: number): Promise<GatewaySample> {
  let after = await sampleGateway(url, Date.now() - began, pid);
  const held = (s: GatewaySample) => (s.media ? s.media.routers + s.media.transports + s.media.producers + s.media.consumers : 0);
  for (let i = 0; i < 50 && held(after) > 0; i++) {
    await sleep(200);
    after = await sampleGateway(url, Date.now() - began, pid);
  }
  return after;
}

export interface MemoryVerdict {
  /** Readings in the window right after warm-up and in the run's last window. */
  baseline: GatewaySample[];
  final: GatewaySample[];
  /** Readings right after a forced full collection, in the same two windows. */
  liveBaseline: GatewaySample[];
  liveFinal: GatewaySample[];
  /** Median RSS as the kernel reports it, last window against the first after warm-up. */
  rssGrowth: number;
  /**
   * Median RSS less V8's young generation. The young generation cannot hold
   * on to anything (what survives two scavenges moves to the old
   * generation) and V8 sizes it by allocation rate up to a fixed cap, so a
   * step in it is the collector's sizing, not memory kept.
   */
  rssBeyondYoungGenerationGrowth: number;
  /**
   * The live heap: median heapUsed read right after a forced full
   * collection (`live` readings), when the heap holds nothing else.
   */
  liveHeapGrowth: number;
  /** The lowest heapUsed of a window without forcing anything: printed, since it depends on when the collector last ran. */
  heapFloorGrowth: number;
  /** V8's committed heap (median): printed so a growth of RSS can be placed. */
  heapTotalGrowth: number;
  summary: string;
}

const inWindow = (samples: GatewaySample[], fromMs: number, toMs: number) => samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);

/**
 * Memory of one process after warm-up: the window of `windowMs` that starts
 * at `warmUpEndMs` against the one that ends at `endMs`. `samples` are plain
 * readings; `live` are readings taken right after a forced full collection
 * in the same windows.
 */
export function memoryVerdict(
  samples: GatewaySample[],
  live: GatewaySample[],
  warmUpEndMs: number,
  endMs: number,
  windowMs: number,
): MemoryVerdict {
  const baseline = inWindow(samples, warmUpEndMs, warmUpEndMs + windowMs);
  const final = inWindow(samples, endMs - windowMs, endMs);
  const liveBaseline = inWindow(live, warmUpEndMs, warmUpEndMs + windowMs);
  const liveFinal = inWindow(live, endMs - windowMs, endMs);
  const rss = (w: GatewaySample[]) => median(w.map((s) => s.rss));
  const rssBeyondYoung = (w: GatewaySample[]) => median(w.map((s) => s.rss - (s.spaces.new ?? 0)));
  const liveHeap = (w: GatewaySample[]) => median(w.map((s) => s.heapUsed));
  const heapFloor = (w: GatewaySample[]) => Math.min(...w.map((s) => s.heapUsed));
  const heapTotal = (w: GatewaySample[]) => median(w.map((s) => s.heapTotal));
  const growth = (of: (w: GatewaySample[]) => number, from = baseline, to = final) => of(to) / of(from) - 1;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const figure = (label: string, of: (w: GatewaySample[]) => number, from = baseline, to = final) =>
    `${label} ${mb(of(from))} → ${mb(of(to))} MB (${pct(growth(of, from, to))})`;
  return {
    baseline,
    final,
    liveBaseline,
    liveFinal,
    rssGrowth: growth(rss),
    rssBeyondYoungGenerationGrowth: growth(rssBeyondYoung),
    liveHeapGrowth: growth(liveHeap, liveBaseline, liveFinal),
    heapFloorGrowth: growth(heapFloor),
    heapTotalGrowth: growth(heapTotal),
    summary: [
      figure('RSS', rss),
      figure('RSS beyond the young generation', rssBeyondYoung),
      `${figure('live heap', liveHeap, liveBaseline, liveFinal)} over ${liveBaseline.length} + ${liveFinal.length} full collections`,
      figure('heap floor', heapFloor),
      figure('committed heap', heapTotal),
    ].join(', '),
  };
}
