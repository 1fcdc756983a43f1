import crypto from 'node:crypto';
import { BeforeApplicationShutdown, Inject, Injectable, Optional } from '@nestjs/common';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { CallAttemptOutcome, CallAttemptRepository, CallAttemptRow } from './call-attempt.repository';
import {
  DEFAULT_EXPERIMENT_WRITE_OPTIONS,
  EXPERIMENT_WRITE_OPTIONS,
  ExperimentWriteOptions,
  isUuid,
  writeBehindMetrics,
} from './experiment-write.options';
import { WriteBehind } from './write-behind';

/** A call:invite judged by a flag: what the calls side tells the experiment. */
export interface CallAttempt {
  flagKey: string;
  callerId: string;
  calleeId: string;
  media: 'audio' | 'video';
  /** The flag's value for the caller at the invite: the variant the attempt counts in. */
  value: boolean;
  outcome: CallAttemptOutcome;
  /** The protocol error code a refused invite got. */
  errorCode?: string;
  /** The call a placed invite created. */
  callId?: string;
  at: Date;
}

/**
 * The experiment's record of call attempts, kept for the flag's report.
 * Written in batches a moment later; recording never throws and never waits
 * for the database.
 */
@Injectable()
export class ExperimentLog implements BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly attempts: WriteBehind<CallAttemptRow>;

  constructor(
    repository: CallAttemptRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    @Optional() @Inject(EXPERIMENT_WRITE_OPTIONS) options: ExperimentWriteOptions | null,
  ) {
    this.logger = rootLogger.child({ component: 'experiment-log' });
    const { flushIntervalMs, maxEntries, maxAttempts } = options ?? DEFAULT_EXPERIMENT_WRITE_OPTIONS;
    this.attempts = new WriteBehind<CallAttemptRow>({
      name: 'call_attempts',
      flushIntervalMs,
      maxEntries,
      maxAttempts,
      ...writeBehindMetrics(metrics, 'call_attempts'),
      write: (rows) => repository.insert(rows),
      // Every attempt has a key of its own: nothing to fold.
      merge: (earlier) => earlier,
      logger: this.logger,
    });
  }

  callAttempted(attempt: CallAttempt): void {
    try {
      const row = toRow(attempt);
      if (!row) {
        this.logger.warn({ attempt }, 'call attempt not recorded: malformed');
        return;
      }
      this.attempts.add(row.id, row);
    } catch (err) {
      this.logger.error({ err }, 'call attempt not recorded');
    }
  }

  /** Writes what is waiting now (tests, and shutdown). */
  flush(): Promise<void> {
    return this.attempts.flush();
  }

  // After every module's onModuleDestroy (nothing records any more) and before the pool closes.
  async beforeApplicationShutdown(): Promise<void> {
    await this.attempts.stop();
  }
}

function toRow(a: CallAttempt): CallAttemptRow | undefined {
  const valid =
    typeof a.flagKey === 'string' &&
    a.flagKey.length > 0 &&
    isUuid(a.callerId) &&
    isUuid(a.calleeId) &&
    (a.media === 'audio' || a.media === 'video') &&
    typeof a.value === 'boolean' &&
    (a.outcome === 'placed' || a.outcome === 'refused') &&
    (a.callId === undefined || a.callId === null || isUuid(a.callId)) &&
    a.at instanceof Date &&
    !Number.isNaN(a.at.getTime());
  if (!valid) return undefined;
  return {
    id: crypto.randomUUID(),
    flagKey: a.flagKey,
    callerId: a.callerId.toLowerCase(),
    calleeId: a.calleeId.toLowerCase(),
    media: a.media,
    flagValue: a.value,
    outcome: a.outcome,
    errorCode: a.errorCode ?? null,
    callId: a.callId ? a.callId.toLowerCase() : null,
    createdAt: a.at,
  };
}
