import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, LabelValues, Registry, collectDefaultMetrics } from 'prom-client';

/** One series of a counter on a hot path (see MetricsService.counterSeries). */
export interface CounterSeries {
  inc(by?: number): void;
}

/**
 * The process's Prometheus registry. Each gateway instance has its own, so
 * several instances in one process (tests) do not collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /** Hot-path counter series whose counts reach the registry when it is read. */
  private readonly unflushed: (() => void)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.reuse(name) ?? new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.reuse(name) ?? new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  ): Histogram<L> {
    return this.reuse(name) ?? new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
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
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  // A metric asked for twice (two services sharing a name) is the same metric.
  private reuse<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(name) as T | undefined;
  }
}
