import { jobIdFor } from './job-id';

/** pg-boss keeps its tables here, apart from the application's. */
export const SCHEDULER_SCHEMA = 'pgboss';

/** How often a failed timer run is tried again, and after how many seconds. */
export const TIMER_RETRY_LIMIT = 10;
export const TIMER_RETRY_DELAY_SECONDS = 1;
/** A job taken by a process that then died is handed out again after this. */
export const TIMER_EXPIRE_SECONDS = 30;
// What pg-boss keeps a job for when neither its queue nor its constructor says.
const KEEP_AFTER_START = '14 days';

/** One timer: unique per (queue, key), due at `at`, handed `data` when it runs. */
export interface TimerSpec<T> {
  key: string;
  at: Date;
  data: T;
}

/**
 * Timers a change stores or removes in its own SQL statement, so they
 * commit with the change or not at all, without a transaction of their own
 * or a round trip each.
 */
export interface TimerChanges<T extends object = object> {
  queue: string;
  arm: TimerSpec<T>[];
  disarm: string[];
}

/** The changes as the two parameters of armTimersSql and disarmTimersSql (JSON rows, job ids). */
export function timerChangeParams(changes: TimerChanges): { arm: string; disarm: string[] } {
  const rows = changes.arm.map((t) => ({ id: jobIdFor(changes.queue, t.key), data: t.data, start_after: t.at.toISOString() }));
  return { arm: JSON.stringify(rows), disarm: changes.disarm.map((key) => jobIdFor(changes.queue, key)) };
}

/**
 * A data-modifying CTE body that stores timers the way DurableScheduler.arm
 * does (one pg-boss job per timer, kept when one with its id is pending),
 * for rows of `fromSql` only, so none is stored when the statement's change
 * did not happen. `rowsParam` and `queueParam` hold timerChangeParams' `arm`
 * and the queue's name. Written against pg-boss's job table:
 * timer-rows.spec.ts compares its rows with pg-boss's own and runs them.
 */
export function armTimersSql(queueParam: string, rowsParam: string, fromSql: string): string {
  return `INSERT INTO ${SCHEDULER_SCHEMA}.job
            (id, name, data, start_after, expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
          SELECT t.id, q.name, t.data, t.start_after,
                 COALESCE(q.expire_seconds, ${TIMER_EXPIRE_SECONDS}) * interval '1s',
                 t.start_after + CAST(COALESCE((q.retention_minutes * 60)::text, '${KEEP_AFTER_START}') AS interval),
                 COALESCE(q.retry_limit, ${TIMER_RETRY_LIMIT}),
                 COALESCE(q.retry_delay, ${TIMER_RETRY_DELAY_SECONDS}),
                 COALESCE(q.retry_backoff, false),
                 q.policy
            FROM ${fromSql},
                 jsonb_to_recordset(${rowsParam}::jsonb) AS t(id uuid, data jsonb, start_after timestamptz)
            JOIN ${SCHEDULER_SCHEMA}.queue q ON q.name = ${queueParam}
          ON CONFLICT DO NOTHING`;
}

/** A data-modifying CTE body that removes timers (job ids in `idsParam`) when `fromSql` has a row. */
export function disarmTimersSql(queueParam: string, idsParam: string, fromSql: string): string {
  return `DELETE FROM ${SCHEDULER_SCHEMA}.job
           WHERE name = ${queueParam} AND id = ANY(${idsParam}::uuid[]) AND EXISTS (SELECT 1 FROM ${fromSql})`;
}
