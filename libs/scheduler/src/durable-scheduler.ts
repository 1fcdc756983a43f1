import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { ADVISORY_LOCKS, DatabasePool, SqlExecutor, withAdvisoryLock } from '@app/database';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { jobIdFor } from './job-id';
import { SCHEDULER_SCHEMA, TIMER_EXPIRE_SECONDS, TIMER_RETRY_DELAY_SECONDS, TIMER_RETRY_LIMIT, TimerSpec } from './timer-rows';

export type TimerHandler<T> = (data: T) => Promise<void>;

// One poll of the job table per queue and process for all timers, so a timer
// fires at most this late; pg-boss allows 0.5 s at the least.
const POLL_SECONDS = 0.5;
// Timers due at once are fetched and run together, up to this many per poll.
const BATCH_SIZE = 100;

/**
 * Durable timers on PostgreSQL (pg-boss): a timer is a row with its due time,
 * so it survives a crash of the process that set it, and any gateway process
 * on the same database may run it, each exactly once (pg-boss hands a job to
 * one worker with SELECT ... FOR UPDATE SKIP LOCKED). Timers are named by
 * (queue, key); the job id derives from them, so arming the same timer twice
 * stores one job, and any process can cancel it.
 *
 * Handlers must be idempotent: a job whose run failed is retried, and a
 * timer re-armed after its job was archived runs again.
 */
@Injectable()
export class DurableScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly boss: PgBoss;
  private readonly handlers = new Map<string, TimerHandler<any>>();
  private readonly logger: Logger;
  private started?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly database: DatabasePool,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'scheduler' });
    this.boss = new PgBoss({
      // On the process's shared pool: pg-boss opens no connections of its own.
      db: { executeSql: (text, values) => database.pool.query(text, values) },
      schema: SCHEDULER_SCHEMA,
      schedule: false,
      supervise: true,
      migrate: true,
      retryLimit: TIMER_RETRY_LIMIT,
      retryDelay: TIMER_RETRY_DELAY_SECONDS,
      expireInSeconds: TIMER_EXPIRE_SECONDS,
    });
    this.boss.on('error', (err) => this.logger.error({ err }, 'scheduler error'));
  }

  /** Registers the handler of a queue; call before the application starts (e.g. in onModuleInit). */
  define<T extends object>(queue: string, handler: TimerHandler<T>): void {
    if (this.handlers.has(queue)) throw new Error(`queue ${queue} already has a handler`);
    this.handlers.set(queue, handler);
  }

  onApplicationBootstrap(): Promise<void> {
    return this.start();
  }

  /** Starts pg-boss and the workers once; later calls wait for the same start. */
  start(): Promise<void> {
    this.started ??= this.startOnce();
    return this.started;
  }

  /**
   * Arms a timer unless one with this key is already pending (or ran and is
   * still kept). With `tx`, inside the caller's transaction.
   */
  async arm<T extends object>(queue: string, key: string, at: Date, data: T, tx?: SqlExecutor): Promise<void> {
    await this.start();
    await this.boss.send(queue, data, { id: jobIdFor(queue, key), startAfter: at, db: tx });
  }

  /** Several timers of one queue in one statement; like arm, each is kept when already pending. */
  async armMany<T extends object>(queue: string, timers: TimerSpec<T>[], tx?: SqlExecutor): Promise<void> {
    if (timers.length === 0) return;
    await this.start();
    await this.boss.insert(
      timers.map((t) => ({ name: queue, id: jobIdFor(queue, t.key), data: t.data, startAfter: t.at })),
      { db: tx },
    );
  }

  /** Arms a timer, replacing any earlier one with this key (a moved deadline). */
  async rearm<T extends object>(queue: string, key: string, at: Date, data: T): Promise<void> {
    await this.disarm(queue, key);
    await this.arm(queue, key, at, data);
  }

  /**
   * Removes timers so they do not fire (a running one finishes; handlers
   * check state anyway). With `tx`, inside the caller's transaction.
   */
  async disarm(queue: string, keys: string | string[], tx?: SqlExecutor): Promise<void> {
    await this.start();
    const ids = (Array.isArray(keys) ? keys : [keys]).map((k) => jobIdFor(queue, k));
    await this.boss.deleteJob(queue, ids, { db: tx });
  }

  async onModuleDestroy(): Promise<void> {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    await this.started.catch(() => undefined);
    await this.boss.stop({ graceful: true, wait: true, close: true, timeout: 5000 });
  }

  private async startOnce(): Promise<void> {
    await this.installSerially(async () => {
      await this.boss.start();
      for (const queue of this.handlers.keys()) await this.boss.createQueue(queue);
    });
    for (const [queue, handler] of this.handlers) {
      await this.boss.work<object>(queue, { pollingIntervalSeconds: POLL_SECONDS, batchSize: BATCH_SIZE }, (jobs) =>
        this.runBatch(queue, handler, jobs),
      );
    }
    this.logger.info({ queues: [...this.handlers.keys()], pollSeconds: POLL_SECONDS }, 'scheduler started');
  }

  // pg-boss guards its own install, but a failed start cannot be retried on
  // the same instance; holding a lock over the whole install is simpler.
  private async installSerially(install: () => Promise<void>): Promise<void> {
    await this.database.withClient((client, drop) => withAdvisoryLock(client, ADVISORY_LOCKS.schedulerInstall, install, drop));
  }

  // The batch is retried as a whole when any job in it failed; handlers are
  // idempotent, so the ones that succeeded become no-ops.
  private async runBatch(queue: string, handler: TimerHandler<object>, jobs: PgBoss.Job<object>[]): Promise<void> {
    const results = await Promise.allSettled(jobs.map((job) => handler(job.data)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ id: jobs[i].id, err: r.reason }] : []));
    if (failed.length === 0) return;
    for (const f of failed) this.logger.error({ err: f.err, queue, jobId: f.id }, 'timer handler failed; will retry');
    throw new Error(`${failed.length} of ${jobs.length} timers failed in ${queue}`);
  }
}
