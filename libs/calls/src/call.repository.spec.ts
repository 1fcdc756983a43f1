import crypto from 'node:crypto';
import pino from 'pino';
import { DurableScheduler, jobIdFor, TimerChanges } from '@app/scheduler';
import { createRepositoryDatabase, RepositoryDatabase } from '../../../test/support/repository-database';
import { InMemoryCallRepository } from '../../../test/support/in-memory-calls';
import type { CallRecord } from './call-record';
import { CallRepository, InviteRefusal } from './call.repository';
import { CALL_TIMERS_QUEUE } from './call-timers';

type Repository = Pick<CallRepository, keyof CallRepository>;

/** A repository, a way to make two users who may call each other, and the timers its transitions stored. */
interface Subject {
  repository: Repository;
  friends(): Promise<[string, string]>;
  hasTimer(key: string): Promise<boolean>;
}

const Q = CALL_TIMERS_QUEUE;
const NO_TIMERS: TimerChanges = { queue: Q, arm: [], disarm: [] };
const arming = (...keys: string[]): TimerChanges => ({
  queue: Q,
  arm: keys.map((key) => ({ key, at: at(3600), data: { key } })),
  disarm: [],
});
const disarming = (...keys: string[]): TimerChanges => ({ queue: Q, arm: [], disarm: keys });

const T0 = new Date('2030-01-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const LARGE = 10_000;

function isCall(result: CallRecord | InviteRefusal | null): asserts result is CallRecord {
  if (result === null || typeof result === 'string') throw new Error(`expected a call, got ${String(result)}`);
}

/**
 * The cases the call state machine relies on. They run against the SQL in
 * PostgreSQL and against the in-memory copy the state-machine spec runs on
 * virtual time with, so the copy cannot drift from the SQL unnoticed.
 */
function behavesAsTheCallsTable(name: string, open: () => Promise<Subject & { close(): Promise<void> }>): void {
  describe(`${name}: the calls aggregate`, () => {
    let subject: Subject & { close(): Promise<void> };
    let repo: Repository;

    beforeAll(async () => {
      subject = await open();
      repo = subject.repository;
    });
    afterAll(() => subject?.close());

    async function ringing(media: 'audio' | 'video' = 'audio', createdAt = T0): Promise<CallRecord> {
      const [callerId, calleeId] = await subject.friends();
      const call = await repo.createRinging(
        { callerId, calleeId, media, createdAt, ringEndsAt: new Date(createdAt.getTime() + 45_000), videoAllowed: true },
        (c) => arming(`${c.id}:ring`),
      );
      isCall(call);
      return call;
    }

    async function active(nodeId = 'node-a', answeredAt = at(5)): Promise<CallRecord> {
      const call = await ringing();
      const answered = await repo.markActive(call.id, answeredAt, at(3605), nodeId, NO_TIMERS);
      isCall(answered);
      return answered;
    }

    it('stores a ringing call holding both users’ slots, and its timers with it', async () => {
      const [callerId, calleeId] = await subject.friends();
      const seen: CallRecord[] = [];
      const call = await repo.createRinging(
        { callerId, calleeId, media: 'video', createdAt: T0, ringEndsAt: at(45), videoAllowed: true },
        (c) => (seen.push(c), arming(`${c.id}:ring`)),
      );
      isCall(call);
      expect(call).toMatchObject({ callerId, calleeId, media: 'video', state: 'ringing', ringEndsAt: at(45), answeredAt: null });
      expect(seen).toEqual([call]);
      expect(await subject.hasTimer(`${call.id}:ring`)).toBe(true);
      expect((await repo.liveCallOf(callerId))?.id).toBe(call.id);
      expect((await repo.liveCallOf(calleeId))?.id).toBe(call.id);
      expect((await repo.findRinging(callerId, calleeId))?.id).toBe(call.id);
      expect(await repo.findRinging(calleeId, callerId)).toBeNull();
      expect(await repo.findById(call.id)).toEqual(call);
    });

    it('a second call for either user is busy and stores nothing', async () => {
      const first = await ringing();
      for (const [callerId, calleeId] of [
        [first.calleeId, first.callerId],
        [first.callerId, first.calleeId],
      ]) {
        const key = `busy:${crypto.randomUUID()}`;
        const again = await repo.createRinging(
          { callerId, calleeId, media: 'audio', createdAt: T0, ringEndsAt: at(45), videoAllowed: true },
          () => arming(key),
        );
        expect(again).toBe('busy');
        expect(await subject.hasTimer(key)).toBe(false);
      }
      expect(await repo.findRinging(first.calleeId, first.callerId)).toBeNull();
      expect((await repo.liveCallOf(first.calleeId))?.id).toBe(first.id);
    });

    it('refuses video when not allowed and stores nothing', async () => {
      const [callerId, calleeId] = await subject.friends();
      const key = `refused:${crypto.randomUUID()}`;
      const refused = await repo.createRinging(
        { callerId, calleeId, media: 'video', createdAt: T0, ringEndsAt: at(45), videoAllowed: false },
        () => arming(key),
      );
      expect(refused).toBe('video_disabled');
      expect(await repo.liveCallOf(callerId)).toBeNull();
      expect(await subject.hasTimer(key)).toBe(false);
    });

    it('answers a ringing call once, swapping its timers with the answer', async () => {
      const call = await ringing();
      const answering = { queue: Q, arm: arming(`${call.id}:cap`).arm, disarm: [`${call.id}:ring`] };
      expect(await subject.hasTimer(`${call.id}:ring`)).toBe(true);
      const answered = await repo.markActive(call.id, at(5), at(3605), 'node-a', answering);
      expect(answered).toMatchObject({ id: call.id, state: 'active', answeredAt: at(5), maxEndsAt: at(3605), mediaNodeId: 'node-a' });
      expect(await subject.hasTimer(`${call.id}:ring`)).toBe(false);
      expect(await subject.hasTimer(`${call.id}:cap`)).toBe(true);

      expect(await repo.markActive(call.id, at(6), at(3606), 'node-b', arming(`${call.id}:late`))).toBeNull();
      expect(await subject.hasTimer(`${call.id}:late`)).toBe(false);
      expect(await repo.findRinging(call.callerId, call.calleeId)).toBeNull();
    });

    it('ends a call only from the states given, once, frees both slots and removes its timers with the end', async () => {
      const call = await active();
      const end = { endedAt: at(60), endReason: 'hangup' as const, endedById: call.callerId };
      expect(await repo.end(call.id, ['ringing'], end, disarming(`${call.id}:ring`))).toBeNull();
      expect((await repo.liveCallOf(call.callerId))?.id).toBe(call.id);
      expect(await subject.hasTimer(`${call.id}:ring`)).toBe(true);

      const ended = await repo.end(call.id, ['ringing', 'active'], end, disarming(`${call.id}:ring`));
      expect(await subject.hasTimer(`${call.id}:ring`)).toBe(false);
      expect(ended).toMatchObject({ id: call.id, state: 'ended', endedAt: at(60), endReason: 'hangup', endedById: call.callerId });
      expect(await repo.end(call.id, ['ringing', 'active'], { ...end, endReason: 'max_duration' })).toBeNull();
      expect(await repo.findById(call.id)).toMatchObject({ endReason: 'hangup' });
      expect(await repo.liveCallOf(call.callerId)).toBeNull();
      expect(await repo.liveCallOf(call.calleeId)).toBeNull();
      expect(await repo.markActive(call.id, at(61), at(3661), 'node-a', NO_TIMERS)).toBeNull();
    });

    it('a ringing call ends as missed without an answer', async () => {
      const call = await ringing();
      const missed = await repo.end(call.id, ['ringing'], { endedAt: call.ringEndsAt!, endReason: 'missed', endedById: null });
      expect(missed).toMatchObject({ state: 'ended', endReason: 'missed', answeredAt: null, endedById: null });
      expect(await repo.liveCallOf(call.calleeId)).toBeNull();
    });

    it('records the cap warning once, and only for an active call', async () => {
      const call = await ringing();
      expect(await repo.markWarned(call.id, at(1))).toBeNull();
      await repo.markActive(call.id, at(5), at(3605), 'node-a', NO_TIMERS);
      expect(await repo.markWarned(call.id, at(3545))).toMatchObject({ warnedAt: at(3545) });
      expect(await repo.markWarned(call.id, at(3546))).toBeNull();
      expect(await repo.findById(call.id)).toMatchObject({ warnedAt: at(3545) });
    });

    it('moves a room only from the node it is recorded on', async () => {
      const call = await active('node-lost');
      expect(await repo.moveMedia(call.id, 'node-other', 'node-b')).toBeNull();
      expect(await repo.moveMedia(call.id, 'node-lost', 'node-b')).toMatchObject({ mediaNodeId: 'node-b' });
      expect(await repo.moveMedia(call.id, 'node-lost', 'node-c')).toBeNull();
      expect(await repo.findById(call.id)).toMatchObject({ mediaNodeId: 'node-b' });
    });

    it('finds active calls on a node and off the live nodes', async () => {
      const onA = await active('node-on');
      const onGone = await active('node-gone');
      const ring = await ringing();
      const ids = (rows: CallRecord[]) => rows.map((c) => c.id);

      const onNode = ids(await repo.activeOnNode('node-on', LARGE));
      expect(onNode).toContain(onA.id);
      expect(onNode).not.toContain(onGone.id);

      const off = ids(await repo.activeOffNodes(['node-on'], LARGE));
      expect(off).toContain(onGone.id);
      expect(off).not.toContain(onA.id);
      expect(off).not.toContain(ring.id);
      expect(ids(await repo.activeOffNodes(['node-on', 'node-gone'], LARGE))).not.toContain(onGone.id);
    });

    it('pages active video calls in id order', async () => {
      const videos: string[] = [];
      for (let i = 0; i < 3; i++) {
        const video = await ringing('video');
        isCall(await repo.markActive(video.id, at(5), at(3605), 'node-a', NO_TIMERS));
        videos.push(video.id);
      }
      const audio = await active();
      const all: CallRecord[] = [];
      for (let afterId: string | null = null; ;) {
        const page: CallRecord[] = await repo.activeVideoPage(afterId, 2);
        if (page.length === 0) break;
        all.push(...page);
        afterId = page[page.length - 1].id;
      }
      const ids = all.map((c) => c.id);
      expect(ids).toEqual(expect.arrayContaining(videos));
      expect(ids).not.toContain(audio.id);
      expect(ids).toEqual([...ids].sort());
      expect(all.every((c) => c.media === 'video' && c.state === 'active')).toBe(true);
    });

    it('finds calls past their deadlines: ringing past the ring time, active past the cap', async () => {
      const ring = await ringing('audio', at(-1000));
      const capped = await active('node-a', at(-4000));
      const fresh = await ringing('audio', at(100));
      const ended = await active('node-a', at(-4000));
      await repo.end(ended.id, ['active'], { endedAt: at(-10), endReason: 'hangup', endedById: null });

      const due = (await repo.overdue(at(0), LARGE)).map((c) => c.id);
      expect(due).toEqual(expect.arrayContaining([ring.id]));
      expect(due).not.toContain(fresh.id);
      expect(due).not.toContain(ended.id);
      // Active calls are due at max_ends_at (at(3605) for all here): past it, not before.
      expect(due).not.toContain(capped.id);
      expect((await repo.overdue(at(3605), LARGE)).map((c) => c.id)).toContain(capped.id);
    });

    it('pages live calls (ringing and active) in id order', async () => {
      const ring = await ringing();
      const live = await active();
      const ended = await active();
      await repo.end(ended.id, ['active'], { endedAt: at(9), endReason: 'hangup', endedById: null });
      const ids: string[] = [];
      for (let afterId: string | null = null; ;) {
        const page: CallRecord[] = await repo.livePage(afterId, 3);
        if (page.length === 0) break;
        expect(page.every((c) => c.state !== 'ended')).toBe(true);
        ids.push(...page.map((c) => c.id));
        afterId = page[page.length - 1].id;
      }
      expect(ids).toEqual(expect.arrayContaining([ring.id, live.id]));
      expect(ids).not.toContain(ended.id);
      expect(ids).toEqual([...ids].sort());
    });

    it('counts active calls', async () => {
      const before = await repo.countActive();
      const call = await active();
      expect(await repo.countActive()).toBe(before + 1);
      await repo.end(call.id, ['active'], { endedAt: at(9), endReason: 'hangup', endedById: null });
      expect(await repo.countActive()).toBe(before);
    });

    it('keeps the first media set-up time and the latest statistics', async () => {
      const call = await active();
      expect(await repo.recordMediaSetup(call.id, 420)).toBe(true);
      expect(await repo.recordMediaSetup(call.id, 99)).toBe(false);
      const stats = { sampledSeconds: 5, legs: [] };
      await repo.storeMediaStats(call.id, stats);
      expect((await repo.findById(call.id))?.mediaStats).toEqual(stats);
    });

    it('lists a user’s calls newest first', async () => {
      const [me, other] = await subject.friends();
      const ids: string[] = [];
      for (const s of [1, 3, 2]) {
        const call = await repo.createRinging(
          {
            callerId: s === 2 ? other : me,
            calleeId: s === 2 ? me : other,
            media: 'audio',
            createdAt: at(s),
            ringEndsAt: at(s + 45),
            videoAllowed: true,
          },
          () => NO_TIMERS,
        );
        isCall(call);
        ids[s] = call.id;
        await repo.end(call.id, ['ringing'], { endedAt: at(s + 1), endReason: 'cancelled', endedById: me });
      }
      expect((await repo.history(me, 10)).map((c) => c.id)).toEqual([ids[3], ids[2], ids[1]]);
      expect((await repo.history(me, 2)).map((c) => c.id)).toEqual([ids[3], ids[2]]);
    });
  });
}

// One database for the file (making and migrating one costs about a second), with the
// scheduler's tables and the call timers' queue, which the transitions' statements write to.
let opened: Promise<RepositoryDatabase> | undefined;
let scheduler: DurableScheduler | undefined;
const database = () =>
  (opened ??= createRepositoryDatabase().then(async (db) => {
    scheduler = new DurableScheduler(db.pool, pino({ level: 'silent' }));
    scheduler.define(Q, async () => undefined);
    await scheduler.start();
    return db;
  }));
afterAll(async () => {
  await scheduler?.onModuleDestroy();
  if (opened) await (await opened).close();
});

behavesAsTheCallsTable('PostgreSQL', async () => {
  const db = await database();
  return {
    repository: new CallRepository(db.prisma, db.pool),
    friends: () => db.createFriends(),
    hasTimer: async (key) =>
      (await db.pool.query('SELECT 1 FROM pgboss.job WHERE name = $1 AND id = $2', [Q, jobIdFor(Q, key)])).length > 0,
    close: async () => undefined,
  };
});

/** Which timers are stored, and nothing runs them (the in-memory copy's side of hasTimer). */
class StoredTimers {
  readonly keys = new Set<string>();
  async armMany(_queue: string, timers: { key: string }[]): Promise<void> {
    for (const t of timers) this.keys.add(t.key);
  }
  async disarm(_queue: string, keys: string | string[]): Promise<void> {
    for (const key of [keys].flat()) this.keys.delete(key);
  }
}

behavesAsTheCallsTable('the in-memory copy (call state machine spec)', async () => {
  const timers = new StoredTimers();
  return {
    repository: new InMemoryCallRepository(timers),
    friends: async () => [crypto.randomUUID(), crypto.randomUUID()],
    hasTimer: async (key) => timers.keys.has(key),
    close: async () => undefined,
  };
});

describe('PostgreSQL: who may call whom (checked in the invite’s statement)', () => {
  let db: RepositoryDatabase;
  let repo: CallRepository;

  beforeAll(async () => {
    db = await database();
    repo = new CallRepository(db.prisma, db.pool);
  });

  const invite = (callerId: string, calleeId: string, videoAllowed = true) =>
    repo.createRinging({ callerId, calleeId, media: 'video', createdAt: T0, ringEndsAt: at(45), videoAllowed }, () => NO_TIMERS);

  it('refuses an unknown callee', async () => {
    const [caller] = await db.createUsers(1);
    expect(await invite(caller, crypto.randomUUID())).toBe('no_such_user');
  });

  it('refuses a block in either direction, before contacts and video are looked at', async () => {
    for (const blockerIsCaller of [true, false]) {
      const [caller, callee] = await db.createFriends();
      const [blocker, blocked] = blockerIsCaller ? [caller, callee] : [callee, caller];
      await db.pool.query('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [blocker, blocked]);
      expect(await invite(caller, callee, false)).toBe('blocked');
      expect(await repo.liveCallOf(caller)).toBeNull();
    }
  });

  it('refuses users who are not contacts both ways, before video is looked at', async () => {
    const [caller, callee] = await db.createUsers(2);
    await db.pool.query('INSERT INTO contacts (owner_id, contact_id) VALUES ($1, $2)', [caller, callee]);
    expect(await invite(caller, callee, false)).toBe('not_friends');
    expect(await invite(callee, caller)).toBe('not_friends');
  });

  it('two users calling each other at once: one call, the other busy', async () => {
    const [a, b] = await db.createFriends();
    const results = await Promise.all([invite(a, b), invite(b, a)]);
    expect(results.filter((r) => r === 'busy')).toHaveLength(1);
    expect(results.filter((r) => typeof r === 'object')).toHaveLength(1);
  });
});
