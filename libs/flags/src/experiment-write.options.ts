import type { MetricsService } from '@app/observability';

/** How the experiment's records (exposures, call attempts) are batched on their way to the database. */
export interface ExperimentWriteOptions {
  /** Longest an exposure or attempt waits in memory before it is written. */
  flushIntervalMs: number;
  /** Entries one buffer holds at most (one per flag, user and value for exposures). */
  maxEntries: number;
  /** Failed writes in a row after which a batch is given up. */
  maxAttempts: number;
}

export const EXPERIMENT_WRITE_OPTIONS = Symbol('EXPERIMENT_WRITE_OPTIONS');

export const DEFAULT_EXPERIMENT_WRITE_OPTIONS: ExperimentWriteOptions = {
  flushIntervalMs: 250,
  maxEntries: 50_000,
  maxAttempts: 10,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are checked before they are buffered: one malformed id must not make a whole batch fail. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Operators see records lost to a full buffer and writes the database refused, per buffer. */
export function writeBehindMetrics(metrics: MetricsService, buffer: string) {
  const dropped = metrics.counter('experiment_records_dropped_total', 'experiment records dropped: buffer full or given up', ['buffer']);
  const failed = metrics.counter('experiment_write_failures_total', 'failed batch writes of experiment records', ['buffer']);
  return {
    onDropped: (count: number) => dropped.inc({ buffer }, count),
    onWriteFailed: () => failed.inc({ buffer }),
  };
}
