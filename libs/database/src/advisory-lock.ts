import type { ClientBase } from 'pg';

/**
 * Every session-level advisory lock the application takes, in one place so
 * two uses never pick the same number by accident.
 */
export const ADVISORY_LOCKS = {
  /** Gateways starting at once apply each migration exactly once. */
  migrations: 72_615_001,
  /** Gateways starting at once install the scheduler's schema and queues one after the other. */
  schedulerInstall: 72_615_002,
} as const;

/**
 * Runs `work` while this connection holds the lock (waiting for it), and
 * releases it afterwards even when `work` throws. The lock belongs to the
 * session, so `client` must be one connection, not a pool. When the unlock
 * fails, `onUnlockFailed` hears it: a pooled connection must then be closed,
 * or it would keep the lock.
 */
export async function withAdvisoryLock<T>(
  client: ClientBase,
  key: number,
  work: () => Promise<T>,
  onUnlockFailed: (err: Error) => void = () => undefined,
): Promise<T> {
  await client.query('SELECT pg_advisory_lock($1)', [key]);
  try {
    return await work();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(onUnlockFailed);
  }
}
