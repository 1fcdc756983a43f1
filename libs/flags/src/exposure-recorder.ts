import { BeforeApplicationShutdown, Inject, Injectable, Optional } from '@nestjs/common';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import {
  DEFAULT_EXPERIMENT_WRITE_OPTIONS,
  EXPERIMENT_WRITE_OPTIONS,
  ExperimentWriteOptions,
  isUuid,
  writeBehindMetrics,
} from './experiment-write.options';
import { ExposureCount, ExposureRepository } from './exposure.repository';
import { WriteBehind } from './write-behind';

/** What a flag's value decided: what the user's app shows, or what a call may do. */
export type ExposureSource = 'flags' | 'flags:changed' | 'call:invite' | 'media:produce';

export const EXPOSURE_SOURCES: readonly ExposureSource[] = ['flags', 'flags:changed', 'call:invite', 'media:produce'];

/**
 * Exposures on their way to flag_exposures: folded per flag, user and value
 * in memory and upserted about every flushIntervalMs in one statement,
 * which adds to the stored counts (so any number of processes share rows).
 * Written at shutdown too.
 */
@Injectable()
export class ExposureRecorder implements BeforeApplicationShutdown {
  private readonly buffer: WriteBehind<ExposureCount>;

  constructor(
    repository: ExposureRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    @Optional() @Inject(EXPERIMENT_WRITE_OPTIONS) options: ExperimentWriteOptions | null,
  ) {
    const { flushIntervalMs, maxEntries, maxAttempts } = options ?? DEFAULT_EXPERIMENT_WRITE_OPTIONS;
    this.buffer = new WriteBehind<ExposureCount>({
      name: 'flag_exposures',
      flushIntervalMs,
      maxEntries,
      maxAttempts,
      ...writeBehindMetrics(metrics, 'flag_exposures'),
      write: (batch) => repository.upsert(batch),
      merge: mergeExposures,
      logger: rootLogger.child({ component: 'exposures' }),
    });
  }

  record(flagKey: string, userId: string, value: boolean, at: Date): void {
    if (!isUuid(userId)) return;
    const user = userId.toLowerCase();
    this.buffer.add(`${flagKey}\n${user}\n${value}`, {
      flagKey,
      userId: user,
      value,
      firstAt: at,
      lastAt: at,
      count: 1,
    });
  }

  /** Writes what is waiting now (tests, and shutdown). Never throws. */
  flush(): Promise<void> {
    return this.buffer.flush();
  }

  // After every module's onModuleDestroy (sockets and handlers are done) and before the pool closes.
  async beforeApplicationShutdown(): Promise<void> {
    await this.buffer.stop();
  }
}

export function mergeExposures(earlier: ExposureCount, later: ExposureCount): ExposureCount {
  return {
    ...earlier,
    firstAt: earlier.firstAt <= later.firstAt ? earlier.firstAt : later.firstAt,
    lastAt: earlier.lastAt >= later.lastAt ? earlier.lastAt : later.lastAt,
    count: earlier.count + later.count,
  };
}
