import { Inject, Injectable, Optional } from '@nestjs/common';
import { Counter, Gauge, Histogram, LabelValues, Registry, collectDefaultMetrics } from 'prom-client';

/** One series of a counter on a hot path (see MetricsService.counterSeries). */
export interface CounterSeries {
  inc(by?: number): void;
}

/**
 * Buckets (seconds) for durations: from 100 µs, so a media request or a
 * socket event answered from memory (well under a millisecond) is told
 * apart from one that took a few milliseconds, up to 10 s.
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** What every exported metric name starts with unless METRICS_PREFIX says otherwise. */
export const DEFAULT_METRICS_PREFIX = 'smb_';

export interface MetricsOptions {
  /** Prepended to every metric name at /metrics; '' for none. Default: METRICS_PREFIX, else DEFAULT_METRICS_PREFIX. */
  prefix?: string;
}

export const METRICS_OPTIONS = Symbol('METRICS_OPTIONS');

const PROMETHEUS_NAME_START = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** The prefix from the environment (METRICS_PREFIX; empty turns it off), checked to be a valid name start. */
export function metricsPrefixFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const prefix = env.METRICS_PREFIX ?? DEFAULT_METRICS_PREFIX;
  if (prefix !== '' && !PROMETHEUS_NAME_START.test(prefix)) {
    throw new Error(`METRICS_PREFIX must be empty or match ${PROMETHEUS_NAME_START} (letters, digits, _ and :), got "${prefix}"`);
  }
  return prefix;
}

/**
 * How often the event-loop lag (nodejs_eventloop_lag_*) is sampled. prom-client's 10 ms
 * default wakes every process 100 times a second, idle or not: a few ms of CPU a second
 * each, and on a busy machine each wake-up can take a core from the work in hand. Lag that
 * matters (tens of ms and up) still shows at 100 ms, ten samples a second.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * The process's Prometheus registry. Each gateway instance has its own, so
 * several instances in one process (tests) do not collide.
 *
 * Metrics are registered and looked up under their short names
 * (`socket_events_total`); the prefix is added to every name when the
 * registry is rendered, so it also covers metrics registered on `registry`
 * directly and the default process metrics.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /** What every name at /metrics starts with (e.g. `smb_`), '' for none. */
  readonly prefix: string;
  /** Hot-path counter series whose counts reach the registry when it is read. */
  private readonly unflushed: (() => void)[] = [];

  constructor(@Optional() @Inject(METRICS_OPTIONS) options?: MetricsOptions) {
    this.prefix = options?.prefix ?? metricsPrefixFromEnv();
    if (this.prefix !== '' && !PROMETHEUS_NAME_START.test(this.prefix)) throw new Error(`invalid metrics prefix "${this.prefix}"`);
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  /** The name a metric has at /metrics (with the prefix). */
  exportedName(name: string): string {
    return this.prefix + name;
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.reuse(name) ?? new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.reuse(name) ?? new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram; durations (seconds) get DURATION_BUCKETS unless other buckets are given. */
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = DURATION_BUCKETS,
  ): Histogram<L> {
    return this.reuse(name) ?? new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [this.registry] });
  }

  /**
   * One series (fixed labels) of a counter bumped per message or event: a
   * bump adds to a plain number, and the sum is added to the counter when
   * the metrics are rendered, so the hot path hashes no labels.
   */
  counterSeries<L extends string>(counter: Counter<L>, labels: LabelValues<L>): CounterSeries {
    let pending = 0;
    this.unflushed.push(() => {
      if (pending === 0) return;
      counter.inc(labels, pending);
      pending = 0;
    });
    return { inc: (by = 1) => void (pending += by) };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    for (const flush of this.unflushed) flush();
    return { contentType: this.registry.contentType, body: withPrefix(await this.registry.metrics(), this.prefix) };
  }

  // A metric asked for twice (two services sharing a name) is the same metric.
  private reuse<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(name) as T | undefined;
  }
}

/**
 * The Prometheus text format with `prefix` before every metric name: sample
 * lines start with the name, and `# HELP` / `# TYPE` lines name it next.
 */
export function withPrefix(exposition: string, prefix: string): string {
  if (prefix === '') return exposition;
  return exposition.replace(/^(# (?:HELP|TYPE) )?(?=[a-zA-Z_:])/gm, `$1${prefix}`);
}
