import crypto from 'node:crypto';
import { AppConfig, loadConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { DatabasePool, migrate, PrismaService } from '@app/database';
import { createRootLogger, MetricsService } from '@app/observability';
import { createTestDatabase, TestDatabase } from '@app/testing';
import { CallAttemptRepository } from './call-attempt.repository';
import { ExperimentLog } from './experiment-log';
import { ExposureRecorder } from './exposure-recorder';
import { ExposureRepository } from './exposure.repository';
import { FlagExperimentService } from './flag-experiment.service';
import { FlagReportRepository } from './flag-report.repository';
import { FlagRepository } from './flag.repository';
import { toFlagReportDto } from './flag-dto';

const logger = createRootLogger('silent');
// Flushes are explicit in these specs.
const writeOptions = { flushIntervalMs: 60_000, maxEntries: 1000, maxAttempts: 3 };

/** One process's view: its own pool, recorders and services on the shared database. */
function processOn(db: TestDatabase, config: AppConfig) {
  const pool = new DatabasePool({ url: db.url, embedded: false }, config);
  const prisma = new PrismaService(pool);
  const exposures = new ExposureRepository(pool);
  const metrics = new MetricsService({ prefix: '' });
  return {
    pool,
    prisma,
    recorder: new ExposureRecorder(exposures, logger, metrics, writeOptions),
    log: new ExperimentLog(new CallAttemptRepository(pool), logger, metrics, writeOptions),
    service: new FlagExperimentService(new FlagRepository(prisma), exposures, new FlagReportRepository(pool)),
  };
}

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
}

describe('flag experiments (PostgreSQL)', () => {
  let db: TestDatabase;
  let a: ReturnType<typeof processOn>;
  let b: ReturnType<typeof processOn>;

  const newKey = () => `exp_${crypto.randomBytes(4).toString('hex')}`;

  async function createFlag(key: string): Promise<void> {
    await a.pool.query(`INSERT INTO feature_flags (key) VALUES ($1)`, [key]);
  }

  async function createUsers(n: number): Promise<string[]> {
    const rows = await a.pool.query<{ id: string }>(
      `INSERT INTO users (id, handle, display_name)
       SELECT gen_random_uuid(), 'u_' || substr(md5(random()::text), 1, 12), 'user' FROM generate_series(1, $1)
       RETURNING id`,
      [n],
    );
    // Sorted, as the exposures list pages them.
    return rows.map((r) => r.id).sort();
  }

  interface CallSpec {
    callerId: string;
    calleeId: string;
    media?: 'audio' | 'video';
    answeredAt?: Date;
    endedAt?: Date;
    setupMs?: number;
    mediaStats?: unknown;
  }

  async function createCall(spec: CallSpec): Promise<string> {
    const [row] = await a.pool.query<{ id: string }>(
      `INSERT INTO calls (id, caller_id, callee_id, media, state, answered_at, ended_at, media_setup_ms, media_stats)
       VALUES (gen_random_uuid(), $1, $2, $3::call_media, $4::call_state, $5, $6, $7, $8::jsonb) RETURNING id`,
      [
        spec.callerId,
        spec.calleeId,
        spec.media ?? 'audio',
        spec.endedAt ? 'ended' : spec.answeredAt ? 'active' : 'ringing',
        spec.answeredAt ?? null,
        spec.endedAt ?? null,
        spec.setupMs ?? null,
        spec.mediaStats === undefined ? null : JSON.stringify(spec.mediaStats),
      ],
    );
    return row.id;
  }

  const leg = (userId: string, kind: 'audio' | 'video', direction: 'up' | 'down', over: Record<string, unknown>) => ({
    userId,
    kind,
    direction,
    bytes: 0,
    packets: 100,
    packetsLost: 0,
    lossRatio: 0,
    jitterMsP50: 0,
    jitterMsP95: 0,
    bitrateBpsMean: 0,
    ...over,
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    const config = loadConfig({
      JWT_SECRET: 'experiments-spec-secret-0123456789',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '3',
    });
    a = processOn(db, config);
    b = processOn(db, config);
  });

  afterAll(async () => {
    for (const p of [a, b]) {
      if (!p) continue;
      await p.recorder.beforeApplicationShutdown();
      await p.log.beforeApplicationShutdown();
      await p.prisma.$disconnect();
      await p.pool.end();
    }
    await db?.drop();
  });

  describe('exposures', () => {
    it('two processes add into the same rows: counts add up, first and last times span both', async () => {
      const key = newKey();
      await createFlag(key);
      const [u1, u2] = await createUsers(2);
      const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
      a.recorder.record(key, u1, true, t(10));
      a.recorder.record(key, u1, true, t(20));
      b.recorder.record(key, u1, true, t(5));
      b.recorder.record(key, u1, false, t(30));
      b.recorder.record(key, u2.toUpperCase(), false, t(1));
      await Promise.all([a.recorder.flush(), b.recorder.flush()]);
      a.recorder.record(key, u1, true, t(40));
      await a.recorder.flush();

      const page = await a.service.exposurePage(key, { limit: 100 });
      expect(page.nextCursor).toBeNull();
      expect(page.exposures).toEqual([
        { flagKey: key, userId: u1, value: false, firstAt: t(30), lastAt: t(30), count: 1 },
        { flagKey: key, userId: u1, value: true, firstAt: t(5), lastAt: t(40), count: 4 },
        { flagKey: key, userId: u2, value: false, firstAt: t(1), lastAt: t(1), count: 1 },
      ]);
    });

    it('skips ids that are not users instead of failing the batch', async () => {
      const key = newKey();
      await createFlag(key);
      const [u] = await createUsers(1);
      a.recorder.record(key, crypto.randomUUID(), true, new Date());
      a.recorder.record(key, 'not-a-uuid', true, new Date());
      a.recorder.record(key, u, true, new Date());
      await a.recorder.flush();
      expect((await a.service.exposurePage(key)).exposures.map((e) => e.userId)).toEqual([u]);
    });

    it('pages by user and value with an opaque cursor, every row exactly once', async () => {
      const key = newKey();
      await createFlag(key);
      const users = await createUsers(7);
      for (const u of users) a.recorder.record(key, u, true, new Date());
      for (const u of users.slice(0, 3)) a.recorder.record(key, u, false, new Date());
      await a.recorder.flush();

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await a.service.exposurePage(key, { limit: 3, cursor });
        expect(page.exposures.length).toBeLessThanOrEqual(3);
        seen.push(...page.exposures.map((e) => `${e.userId}:${e.value}`));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
      } while (cursor);
      const expected = users.flatMap((u, i) => (i < 3 ? [`${u}:false`, `${u}:true`] : [`${u}:true`]));
      expect(seen).toEqual(expected);
      expect(pages).toBe(4);
    });

    it('answers NOT_FOUND for an unknown flag and VALIDATION_FAILED for a cursor it did not hand out', async () => {
      expect(await code(a.service.exposurePage(newKey()))).toBe('NOT_FOUND');
      const key = newKey();
      await createFlag(key);
      expect(await code(a.service.exposurePage(key, { cursor: 'bm9wZQ' }))).toBe('VALIDATION_FAILED');
      expect(await code(a.service.report(newKey()))).toBe('NOT_FOUND');
    });
  });

  describe('report', () => {
    it('counts users by their latest value and calls by the caller variant at the invite, with their quality', async () => {
      const key = newKey();
      await createFlag(key);
      const [u1, u2, u3, u4, u5, u6, callee] = await createUsers(7);
      const now = Date.now();
      const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);

      // Users: three on, three off (u6 was on, then off).
      for (const u of [u1, u2, u3]) a.recorder.record(key, u, true, at(30));
      for (const u of [u4, u5]) b.recorder.record(key, u, false, at(30));
      a.recorder.record(key, u6, true, at(40));
      b.recorder.record(key, u6, false, at(20));
      // The callee saw the flag too (on); it counts as a user, not for the calls.
      b.recorder.record(key, callee, true, at(30));
      await Promise.all([a.recorder.flush(), b.recorder.flush()]);

      // On: an answered audio call of a minute, an answered video call of two, a call never answered.
      const c1 = await createCall({
        callerId: u1,
        calleeId: callee,
        answeredAt: at(10),
        endedAt: at(9),
        setupMs: 100,
        mediaStats: {
          sampledSeconds: 60,
          legs: [
            leg(u1, 'audio', 'up', {
              bytes: 600_000,
              lossRatio: 0.1,
              jitterMsP50: 2,
              jitterMsP95: 6,
              bitrateBpsMean: 40_000,
              scoreMean: 9,
            }),
            leg(callee, 'audio', 'down', {
              bytes: 300_000,
              lossRatio: 0.3,
              jitterMsP50: 4,
              jitterMsP95: 10,
              bitrateBpsMean: 20_000,
              scoreMean: 7,
            }),
          ],
        },
      });
      const c2 = await createCall({
        callerId: u2,
        calleeId: callee,
        media: 'video',
        answeredAt: at(8),
        endedAt: at(6),
        setupMs: 300,
        mediaStats: {
          sampledSeconds: 120,
          legs: [
            leg(u2, 'video', 'up', {
              bytes: 1_200_000,
              lossRatio: 0.05,
              jitterMsP50: 8,
              jitterMsP95: 20,
              bitrateBpsMean: 80_000,
            }),
          ],
        },
      });
      // A row of the earlier per-participant format: counted as a call, no legs.
      const c3 = await createCall({
        callerId: u3,
        calleeId: callee,
        endedAt: at(5),
        mediaStats: { caller: { bytesIn: 'x' } },
      });
      // Off: a refused video invite, an answered audio call still going on.
      const c5 = await createCall({ callerId: u5, calleeId: callee, answeredAt: at(3), setupMs: 200 });

      const attempt = (over: Partial<Parameters<ExperimentLog['callAttempted']>[0]>) => ({
        flagKey: key,
        callerId: u1,
        calleeId: callee,
        media: 'audio' as const,
        value: true,
        outcome: 'placed' as const,
        at: at(10),
        ...over,
      });
      a.log.callAttempted(attempt({ callerId: u1, callId: c1 }));
      a.log.callAttempted(attempt({ callerId: u2, media: 'video', callId: c2 }));
      b.log.callAttempted(attempt({ callerId: u3, callId: c3 }));
      b.log.callAttempted(attempt({ callerId: u4, value: false, media: 'video', outcome: 'refused', errorCode: 'VIDEO_NOT_ENABLED' }));
      b.log.callAttempted(attempt({ callerId: u5, value: false, callId: c5 }));
      // Before the window the report is asked for below.
      a.log.callAttempted(attempt({ callerId: u1, outcome: 'refused', errorCode: 'BUSY', at: at(120) }));
      // Another flag's attempt never counts here.
      a.log.callAttempted(attempt({ flagKey: newKey(), callerId: u1, callId: c1 }));
      // Malformed: dropped with a log line, never thrown.
      expect(() => a.log.callAttempted(attempt({ callerId: 'nobody' }))).not.toThrow();
      await Promise.all([a.log.flush(), b.log.flush()]);

      const report = toFlagReportDto(await a.service.report(key, at(60)));
      expect(report.key).toBe(key);
      expect(report.since).toBe(at(60).toISOString());
      const [off, on] = report.variants;
      expect(off).toEqual({
        value: false,
        users: 3,
        calls: { attempted: 2, refused: 1, answered: 1, durationSecondsMean: null, setupMsP50: 200, quality: [] },
      });
      expect(on.value).toBe(true);
      expect(on.users).toBe(4);
      expect(on.calls).toMatchObject({ attempted: 3, refused: 0, answered: 2, setupMsP50: 200 });
      expect(on.calls.durationSecondsMean).toBeCloseTo(90, 3);
      expect(on.calls.quality).toHaveLength(2);
      const [audio, video] = on.calls.quality;
      expect(audio.kind).toBe('audio');
      expect(audio.legs).toBe(2);
      expect(audio.lossRatioMean).toBeCloseTo(0.2, 6);
      expect(audio.jitterMsP50Mean).toBeCloseTo(3, 6);
      expect(audio.jitterMsP95Mean).toBeCloseTo(8, 6);
      expect(audio.bitrateBpsMean).toBeCloseTo(30_000, 6);
      expect(audio.bytesPerMinuteMean).toBeCloseTo(450_000, 3);
      expect(audio.scoreMean).toBeCloseTo(8, 6);
      expect(video).toMatchObject({ kind: 'video', legs: 1 });
      expect(video.bytesPerMinuteMean).toBeCloseTo(600_000, 3);
      expect(video.lossRatioMean).toBeCloseTo(0.05, 6);
      expect(video).not.toHaveProperty('scoreMean');

      // Without a window the earlier refused attempt counts too.
      const all = toFlagReportDto(await b.service.report(key));
      expect(all.since).toBeNull();
      expect(all.variants[1].calls).toMatchObject({ attempted: 4, refused: 1, answered: 2 });
    });

    it('has both variants, empty, for a flag nobody was exposed to', async () => {
      const key = newKey();
      await createFlag(key);
      const report = toFlagReportDto(await a.service.report(key));
      const empty = { attempted: 0, refused: 0, answered: 0, durationSecondsMean: null, setupMsP50: null, quality: [] };
      expect(report.variants).toEqual([
        { value: false, users: 0, calls: empty },
        { value: true, users: 0, calls: empty },
      ]);
    });

    it('stores a call id that names no call as null rather than losing the batch', async () => {
      const key = newKey();
      await createFlag(key);
      const [u, v] = await createUsers(2);
      a.log.callAttempted({
        flagKey: key,
        callerId: u,
        calleeId: v,
        media: 'audio',
        value: false,
        outcome: 'placed',
        callId: crypto.randomUUID(),
        at: new Date(),
      });
      a.log.callAttempted({
        flagKey: key,
        callerId: u,
        calleeId: v,
        media: 'audio',
        value: false,
        outcome: 'refused',
        errorCode: 'BUSY',
        at: new Date(),
      });
      await a.log.flush();
      const rows = await a.pool.query<{ call_id: string | null }>(`SELECT call_id FROM call_attempts WHERE flag_key = $1`, [key]);
      expect(rows).toEqual([{ call_id: null }, { call_id: null }]);
    });
  });
});
