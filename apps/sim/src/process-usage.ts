import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** What the simulator's own process used during a run (with an embedded gateway, the gateway's share too). */
export interface ProcessUsage {
  /** CPU time over wall time: 1 = one core busy the whole run. */
  cpuCores: number;
  cpuSeconds: { user: number; system: number };
  rssMb: { start: number; peak: number; end: number };
  heapUsedMb: { start: number; peak: number; end: number };
  /** How late the event loop ran its callbacks: a busy simulator delays every packet and ack. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Samples this process's memory every second and its CPU and event-loop delay over the whole run. */
export class ProcessUsageMonitor {
  private readonly startedAt = performance.now();
  private readonly cpuAtStart = process.cpuUsage();
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private readonly start = process.memoryUsage();
  private peakRss = this.start.rss;
  private peakHeap = this.start.heapUsed;
  private readonly timer: NodeJS.Timeout;

  constructor(sampleMs = 1000) {
    this.delay.enable();
    this.timer = setInterval(() => this.sample(), sampleMs);
    this.timer.unref();
  }

  stop(): ProcessUsage {
    clearInterval(this.timer);
    this.sample();
    this.delay.disable();
    const cpu = process.cpuUsage(this.cpuAtStart);
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    const end = process.memoryUsage();
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    return {
      cpuCores: Math.round(((cpu.user + cpu.system) / 1e6 / Math.max(wallSeconds, 0.001)) * 100) / 100,
      cpuSeconds: { user: Math.round(cpu.user / 1e5) / 10, system: Math.round(cpu.system / 1e5) / 10 },
      rssMb: { start: mb(this.start.rss), peak: mb(this.peakRss), end: mb(end.rss) },
      heapUsedMb: { start: mb(this.start.heapUsed), peak: mb(this.peakHeap), end: mb(end.heapUsed) },
      eventLoopDelayMs: { p50: ms(this.delay.percentile(50)), p99: ms(this.delay.percentile(99)), max: ms(this.delay.max) },
    };
  }

  private sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakHeap = Math.max(this.peakHeap, heapUsed);
  }
}
