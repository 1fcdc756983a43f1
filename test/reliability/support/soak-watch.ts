import { SpawnedGateway, sleep } from '@app/testing';
import { databaseCounts, DatabaseCounts } from './database-counts';
import { GatewaySample, memorySeries, memoryVerdict, MemoryVerdict, sampleGateway } from './gateway-memory';
import { HeapInspector } from '@app/harness';

export interface SoakWindows {
  /** Length of the churn; the run's last window ends here. */
  churnMs: number;
  /** Memory after this share of the run is the baseline (start-up, JIT and pools warmed). */
  warmUpShare: number;
}

interface Watched {
  name: string;
  gateway: SpawnedGateway;
  inspector: HeapInspector;
  samples: GatewaySample[];
  /** Readings right after a forced full collection, taken only in the two judged windows. */
  live: GatewaySample[];
  busy: boolean;
}

/**
 * Watches the processes of a soak (each started with INSPECTOR_NODE_ARGS)
 * and its database while the churn runs: every `sampleMs` a reading of each
 * process's memory and of the database's connections; inside the two judged
 * windows (right after warm-up, and the run's last) also a reading right
 * after a forced full collection, which is the live heap exactly; and the
 * database's counts once warm-up is over. The plain readings of both
 * windows follow the same rhythm (each taken just before a collection), so
 * the two windows compare like with like.
 */
export class SoakWatch {
  /** 60 readings a run, at most one per 10 s. */
  readonly sampleMs: number;
  readonly warmUpEndMs: number;
  readonly windowMs: number;
  readonly connectionCounts: number[] = [];
  warmDatabase?: DatabaseCounts;
  /** When the watch started (ms since the epoch): readings are timed from here. */
  readonly startedAt = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly databaseUrl: string,
    private readonly watched: Watched[],
    private readonly windows: SoakWindows,
  ) {
    this.sampleMs = Math.min(10_000, Math.max(1000, windows.churnMs / 60));
    this.warmUpEndMs = windows.churnMs * windows.warmUpShare;
    this.windowMs = Math.max(3 * this.sampleMs, Math.min(60_000, this.warmUpEndMs));
    this.timers.push(setInterval(() => this.sample(), this.sampleMs));
    this.timers.push(
      setTimeout(() => {
        databaseCounts(databaseUrl).then(
          (c) => (this.warmDatabase = c),
          () => undefined,
        );
      }, this.warmUpEndMs),
    );
  }

  static async start(
    databaseUrl: string,
    processes: { name: string; gateway: SpawnedGateway }[],
    windows: SoakWindows,
  ): Promise<SoakWatch> {
    const watched = await Promise.all(
      processes.map(async (p) => ({ ...p, inspector: await HeapInspector.attach(p.gateway.logs), samples: [], live: [], busy: false })),
    );
    return new SoakWatch(databaseUrl, watched, windows);
  }

  /** Milliseconds since the watch started: the time axis of every reading. */
  elapsedMs(): number {
    return Date.now() - this.startedAt;
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    for (const w of this.watched) w.inspector.close();
  }

  samplesOf(name: string): GatewaySample[] {
    return this.find(name).samples;
  }

  verdict(name: string): MemoryVerdict {
    const w = this.find(name);
    return memoryVerdict(w.samples, w.live, this.warmUpEndMs, this.windows.churnMs, this.windowMs);
  }

  /** The process's memory, one line a minute. */
  series(name: string): string {
    return memorySeries(this.find(name).samples, this.sampleMs);
  }

  /** Pools close connections idle for 10 s: waits (up to 20 s) for the count to fall back to its warm value. */
  async settledDatabase(): Promise<DatabaseCounts> {
    let counts = await databaseCounts(this.databaseUrl);
    for (let i = 0; i < 40 && counts.connections > (this.warmDatabase?.connections ?? 0); i++) {
      await sleep(500);
      counts = await databaseCounts(this.databaseUrl);
    }
    return counts;
  }

  private sample(): void {
    const atMs = this.elapsedMs();
    const judged = this.inJudgedWindow(atMs);
    for (const w of this.watched) {
      // A reading still under way (a slow collection) is not overtaken by the next.
      if (w.busy) continue;
      w.busy = true;
      this.read(w, atMs, judged)
        .catch(() => undefined)
        .finally(() => (w.busy = false));
    }
    databaseCounts(this.databaseUrl).then(
      (c) => this.connectionCounts.push(c.connections),
      () => undefined,
    );
  }

  private async read(w: Watched, atMs: number, judged: boolean): Promise<void> {
    const pid = w.gateway.process.pid;
    w.samples.push(await sampleGateway(w.gateway.url, atMs, pid));
    if (!judged) return;
    await w.inspector.collectGarbage();
    w.live.push(await sampleGateway(w.gateway.url, atMs, pid));
  }

  private inJudgedWindow(atMs: number): boolean {
    const afterWarmUp = atMs >= this.warmUpEndMs && atMs <= this.warmUpEndMs + this.windowMs;
    const last = atMs >= this.windows.churnMs - this.windowMs && atMs <= this.windows.churnMs;
    return afterWarmUp || last;
  }

  private find(name: string): Watched {
    const w = this.watched.find((x) => x.name === name);
    if (!w) throw new Error(`no process named ${name} is watched`);
    return w;
  }
}

/** Warnings and errors a process logged (JSON lines, level 40 and up), counted by message: what a soak's report shows of each process. */
export function warningDigest(logs: string[]): string {
  const counts = new Map<string, number>();
  for (const line of logs) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) < 40) continue;
      const key = `${entry.level! >= 50 ? 'error' : 'warn'}: ${entry.msg}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      // not a log line
    }
  }
  if (counts.size === 0) return 'no warnings';
  return [...counts].map(([msg, n]) => `${n}× ${msg}`).join('; ');
}
