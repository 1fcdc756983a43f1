import pino from 'pino';
import { createRepositoryDatabase, RepositoryDatabase } from '../../../test/support/repository-database';
import { DurableScheduler } from './durable-scheduler';
import { jobIdFor } from './job-id';
import { armTimersSql, disarmTimersSql, TimerChanges, timerChangeParams } from './timer-rows';

const QUEUE = 'timer-rows-spec';

/**
 * Timers stored by an application's own statement are pg-boss jobs like
 * the ones DurableScheduler arms itself: the same columns, run by its
 * workers, kept when already pending. Written against pg-boss's tables, so
 * an upgrade that changes them fails here.
 */
describe('timers stored in the caller’s statement (PostgreSQL, pg-boss)', () => {
  let db: RepositoryDatabase;
  let scheduler: DurableScheduler;
  const ran: { key: string }[] = [];

  beforeAll(async () => {
    db = await createRepositoryDatabase();
    await db.pool.query('CREATE TABLE changes (id int PRIMARY KEY)');
    scheduler = new DurableScheduler(db.pool, pino({ level: 'silent' }));
    scheduler.define<{ key: string }>(QUEUE, async (data) => void ran.push(data));
    await scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.onModuleDestroy();
    await db?.close();
  });

  /** One statement: a row inserted (or not, when `change` is false) and the timer changes made only if it was. */
  async function changeWithTimers(id: number, changes: TimerChanges, change = true): Promise<void> {
    const params = timerChangeParams(changes);
    await db.pool.query(
      `WITH changed AS (INSERT INTO changes (id) SELECT $1 WHERE $2::boolean RETURNING id),
            armed AS (${armTimersSql('$3', '$4', 'changed')}),
            disarmed AS (${disarmTimersSql('$3', '$5', 'changed')})
       SELECT count(*) FROM changed`,
      [id, change, changes.queue, params.arm, params.disarm],
    );
  }

  const jobOf = async (key: string) =>
    (
      await db.pool.query<Record<string, unknown>>(
        `SELECT name, data, state, priority, retry_limit, retry_delay, retry_backoff, expire_in, policy, dead_letter,
                singleton_key, singleton_on, keep_until - start_after AS kept_for, start_after
           FROM pgboss.job WHERE name = $1 AND id = $2`,
        [QUEUE, jobIdFor(QUEUE, key)],
      )
    )[0];

  it('stores the job pg-boss itself stores for the same timer, column for column', async () => {
    const at = new Date(Date.now() + 3_600_000);
    await scheduler.armMany(QUEUE, [{ key: 'by-scheduler', at, data: { key: 'same' } }]);
    await changeWithTimers(1, { queue: QUEUE, arm: [{ key: 'by-statement', at, data: { key: 'same' } }], disarm: [] });
    const ours = await jobOf('by-statement');
    expect(ours).toBeDefined();
    expect(ours).toEqual(await jobOf('by-scheduler'));
    expect(ours.start_after).toEqual(at);
  });

  it('arms and disarms only when the statement’s change happened', async () => {
    const at = new Date(Date.now() + 3_600_000);
    await changeWithTimers(2, { queue: QUEUE, arm: [{ key: 'unchanged', at, data: { key: 'x' } }], disarm: [] }, false);
    expect(await jobOf('unchanged')).toBeUndefined();

    await scheduler.arm(QUEUE, 'kept', at, { key: 'kept' });
    await changeWithTimers(3, { queue: QUEUE, arm: [], disarm: ['kept'] }, false);
    expect(await jobOf('kept')).toBeDefined();
    await changeWithTimers(4, { queue: QUEUE, arm: [], disarm: ['kept'] });
    expect(await jobOf('kept')).toBeUndefined();
  });

  it('keeps a pending timer when armed again, as DurableScheduler.arm does', async () => {
    const first = new Date(Date.now() + 3_600_000);
    await changeWithTimers(5, { queue: QUEUE, arm: [{ key: 'twice', at: first, data: { key: 'first' } }], disarm: [] });
    await changeWithTimers(6, {
      queue: QUEUE,
      arm: [{ key: 'twice', at: new Date(first.getTime() + 60_000), data: { key: 'second' } }],
      disarm: [],
    });
    expect(await jobOf('twice')).toMatchObject({ start_after: first, data: { key: 'first' } });
  });

  it('is run by the scheduler’s workers when due', async () => {
    await changeWithTimers(7, { queue: QUEUE, arm: [{ key: 'due', at: new Date(), data: { key: 'due-now' } }], disarm: [] });
    // The workers poll every half second.
    for (let i = 0; i < 100 && !ran.some((r) => r.key === 'due-now'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(ran).toContainEqual({ key: 'due-now' });
  });
});
