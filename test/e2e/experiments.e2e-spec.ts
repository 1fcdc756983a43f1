import crypto from 'node:crypto';
import { Client } from 'pg';
import { ClientError, PlainReceiveStream, PlainSendStream, SocialClient } from '@app/client';
import { ExposureDto, FlagReportDto, responseSchemas } from '@app/contracts';
import { ExperimentLog, ExposureRecorder, FlagsService } from '@app/flags';
import {
  TEST_ADMIN_TOKEN,
  TestDatabase,
  TestGateway,
  createTestDatabase,
  spawnGateway,
  startTestGateway,
  uniqueHandle,
  waitForValue,
} from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

async function http<T = any>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = ADMIN,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function putFlag(url: string, key: string, body: unknown): Promise<void> {
  const res = await http(url, 'PUT', `/admin/flags/${key}`, body);
  if (res.status !== 200) throw new Error(`PUT ${key}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Every exposure of a flag, through the paged admin route (pages of `limit`). */
async function allExposures(url: string, key: string, limit = 100): Promise<ExposureDto[]> {
  const all: ExposureDto[] = [];
  let cursor: string | null = null;
  do {
    const qs: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await http<{ exposures: ExposureDto[]; nextCursor: string | null }>(url, 'GET', `/admin/flags/${key}/exposures${qs}`);
    expect(res.status).toBe(200);
    for (const e of res.body.exposures) responseSchemas.exposureDto.parse(e);
    all.push(...res.body.exposures);
    cursor = res.body.nextCursor;
  } while (cursor);
  return all;
}

/** `userId:value` → count, for comparing with the evaluations made. */
function countsOf(exposures: { userId: string; value: boolean; count: number }[]): Record<string, number> {
  return Object.fromEntries(exposures.map((e) => [`${e.userId}:${e.value}`, e.count]));
}

async function report(url: string, key: string, since?: Date): Promise<FlagReportDto> {
  const qs = since ? `?since=${encodeURIComponent(since.toISOString())}` : '';
  const res = await http<FlagReportDto>(url, 'GET', `/admin/flags/${key}/report${qs}`);
  expect(res.status).toBe(200);
  return responseSchemas.flagReport.parse(res.body);
}

const newKey = () => `exp_${crypto.randomBytes(4).toString('hex')}`;

async function login(url: string, prefix: string): Promise<SocialClient> {
  return SocialClient.login(url, uniqueHandle(prefix));
}

/** Connects and waits for the flags the server pushes to a new socket (one flags:changed evaluation). */
async function connectWithFlags(c: SocialClient): Promise<SocialClient> {
  const first = c.waitFor('flags:changed');
  await c.connect();
  await first;
  return c;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw err;
  return err.code;
}

async function flushExperiment(gw: TestGateway): Promise<void> {
  await Promise.all([gw.get(ExposureRecorder).flush(), gw.get(ExperimentLog).flush()]);
}

describe('experiments: exposures and the flag report', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const track = (c: SocialClient) => (clients.push(c), c);

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
  });
  afterEach(() => {
    // A socket left connected would be pushed (and exposed to) the next test's flag changes.
    for (const c of clients.splice(0)) c.disconnect();
  });

  it('reports calls by the caller variant at call:invite: placed, refused and answered', async () => {
    // Earlier evaluations in this database (none yet, but the window says so) stay out of the counts.
    const since = new Date();
    const [on1, on2, off1, off2, c1, c2, c3, c4] = await Promise.all(
      ['on1', 'on2', 'off1', 'off2', 'c1', 'c2', 'c3', 'c4'].map((p) => login(gw.url, p)),
    );
    const pairs: [SocialClient, SocialClient][] = [
      [on1, c1],
      [on2, c2],
      [off1, c3],
      [off2, c4],
    ];
    for (const [a, b] of pairs) {
      await a.http('PUT', `/contacts/${b.id}`, {});
      await b.http('PUT', `/contacts/${a.id}`, {});
    }
    // Video is on for the first two callers only: their invites count in the "on" variant.
    await putFlag(gw.url, 'video_call', {
      enabled: true,
      rolloutPercent: 0,
      allowUserIds: [on1.id, on2.id],
      denyUserIds: [],
    });
    for (const c of [on1, on2, off1, off2, c1, c2, c3, c4]) track(await connectWithFlags(c));

    // On: an audio call answered and hung up, an audio call cancelled while ringing.
    const answeredOn = (await on1.request('call:invite', { to: c1.id, media: 'audio' })).call;
    await c1.request('call:accept', { callId: answeredOn.id });
    await on1.request('call:hangup', { callId: answeredOn.id });
    const cancelled = (await on2.request('call:invite', { to: c2.id, media: 'audio' })).call;
    await on2.request('call:cancel', { callId: cancelled.id });
    // Off: two video invites refused, then an audio call answered and hung up.
    expect(await refusal(off1.request('call:invite', { to: c3.id, media: 'video' }))).toBe('VIDEO_CALL_DISABLED');
    expect(await refusal(off2.request('call:invite', { to: c4.id, media: 'video' }))).toBe('VIDEO_CALL_DISABLED');
    const answeredOff = (await off1.request('call:invite', { to: c3.id, media: 'audio' })).call;
    await c3.request('call:accept', { callId: answeredOff.id });
    await c3.request('call:hangup', { callId: answeredOff.id });

    await flushExperiment(gw);
    const r = await report(gw.url, 'video_call', since);
    expect(r.key).toBe('video_call');
    expect(r.since).toBe(since.toISOString());
    const [off, on] = r.variants;
    expect(on.value).toBe(true);
    expect(off.value).toBe(false);
    // Everyone here saw video_call on connecting; only the two allowed callers saw it on.
    expect(on.users).toBe(2);
    expect(off.users).toBe(6);
    expect(on.calls).toMatchObject({ attempted: 2, refused: 0, answered: 1 });
    expect(off.calls).toMatchObject({ attempted: 3, refused: 2, answered: 1 });
    for (const v of [on, off]) {
      expect(v.calls.durationSecondsMean).not.toBeNull();
      expect(v.calls.durationSecondsMean).toBeGreaterThanOrEqual(0);
    }

    // The invites were exposures of the callers (and of the video callees), on top of the pushes.
    const exposures = countsOf(await allExposures(gw.url, 'video_call'));
    expect(exposures[`${on1.id}:true`]).toBe(2); // connect push + one invite
    expect(exposures[`${on2.id}:true`]).toBe(2);
    expect(exposures[`${off1.id}:false`]).toBe(3); // connect push + two invites
    expect(exposures[`${c3.id}:false`]).toBe(2); // connect push + the video invite
    expect(exposures[`${c1.id}:false`]).toBe(1); // audio invites do not ask the callee's value
  });

  it('reports set-up time and media quality from a real video call, and media:produce as an exposure', async () => {
    const since = new Date();
    const [alice, bob] = await Promise.all([login(gw.url, 'va'), login(gw.url, 'vb')]);
    await alice.http('PUT', `/contacts/${bob.id}`, {});
    await bob.http('PUT', `/contacts/${alice.id}`, {});
    await putFlag(gw.url, 'video_call', { enabled: true, rolloutPercent: 0, allowUserIds: [alice.id, bob.id] });
    for (const c of [alice, bob]) track(await connectWithFlags(c));

    const { call } = await alice.request('call:invite', { to: bob.id, media: 'video' });
    await bob.request('call:accept', { callId: call.id });
    const streams: { close(): void }[] = [];
    try {
      const aliceAudio = await PlainSendStream.open(alice, call.id, 'audio');
      streams.push(aliceAudio);
      const aliceVideo = await PlainSendStream.open(alice, call.id, 'video');
      streams.push(aliceVideo);
      const bobAudio = await PlainSendStream.open(bob, call.id, 'audio');
      streams.push(bobAudio);
      const bobHears = await PlainReceiveStream.open(bob, call.id, aliceAudio.producerId);
      streams.push(bobHears);
      for (let i = 0; i < 30; i++) {
        // An Opus TOC byte and a few bytes: the SFU forwards without decoding.
        await aliceAudio.sendPayload(Buffer.from([0x08, 0xde, 0xad, 0xbe, 0xef]), 960, i === 0);
        await bobAudio.sendPayload(Buffer.from([0x08, 0xbe, 0xef]), 960, i === 0);
      }
      expect(await bobHears.waitForPackets(10, 5_000)).toBeGreaterThanOrEqual(10);
    } finally {
      for (const s of streams) s.close();
    }
    await alice.request('call:hangup', { callId: call.id });

    // The call's media statistics are stored as it ends; the report reads them once they are there.
    const r = await waitForValue(async () => {
      await flushExperiment(gw);
      const current = await report(gw.url, 'video_call', since);
      return current.variants[1].calls.quality.length > 0 ? current : undefined;
    });
    const on = r.variants[1].calls;
    expect(on).toMatchObject({ attempted: 1, refused: 0, answered: 1 });
    expect(on.setupMsP50).not.toBeNull();
    expect(on.setupMsP50).toBeGreaterThanOrEqual(0);
    const audio = on.quality.find((q) => q.kind === 'audio');
    expect(audio?.legs).toBeGreaterThan(0);
    expect(audio?.bytesPerMinuteMean).toBeGreaterThan(0);
    expect(r.variants[0].calls.attempted).toBe(0);

    // Producing video asked both participants' values: an exposure of each.
    const exposures = countsOf(await allExposures(gw.url, 'video_call'));
    // Connect push + invite (caller) + video producer.
    expect(exposures[`${alice.id}:true`]).toBe(3);
    // Connect push + invite (video callee) + alice's video producer.
    expect(exposures[`${bob.id}:true`]).toBe(3);
  });

  it('records one exposure per GET /flags evaluation: rows and counts match the requests made', async () => {
    const key = newKey();
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => login(gw.url, `http${i}`)));
    // On for the first two only.
    await putFlag(gw.url, key, { enabled: true, allowUserIds: [users[0].id, users[1].id] });
    const expected: Record<string, number> = {};
    for (const [i, u] of users.entries()) {
      for (let n = 0; n <= i; n++) {
        const { flags } = await u.route('GET /flags', '/flags');
        expect(flags[key]).toBe(i < 2);
      }
      expected[`${u.id}:${i < 2}`] = i + 1;
    }
    // Evaluations that decide nothing for the user (no source) and unknown flags are not exposures.
    const flags = gw.get(FlagsService);
    expect(await flags.isEnabled(key, users[0].id)).toBe(true);
    expect(await flags.isEnabledForAll(key, [users[0].id, users[5].id])).toBe(false);
    const unknown = newKey();
    expect(await flags.isEnabled(unknown, users[0].id, 'call:invite')).toBe(false);
    await flushExperiment(gw);
    const exposures = await allExposures(gw.url, key, 2);
    expect(countsOf(exposures)).toEqual(expected);
    const pg = new Client({ connectionString: gw.db.url });
    await pg.connect();
    try {
      expect((await pg.query('SELECT 1 FROM flag_exposures WHERE flag_key = $1', [unknown])).rowCount).toBe(0);
    } finally {
      await pg.end();
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(Number(/flag_exposures_total\{source="flags"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(21);
    // Paged by user id, each row once.
    expect(exposures.map((e) => e.userId)).toEqual(users.map((u) => u.id).sort());
    for (const e of exposures) expect(Date.parse(e.lastAt)).toBeGreaterThanOrEqual(Date.parse(e.firstAt));
  });

  it('records each flags:changed evaluation: the push on connecting and the push after a change, per user', async () => {
    const key = newKey();
    await putFlag(gw.url, key, { enabled: true, rolloutPercent: 0 });
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((p) => login(gw.url, p)));
    for (const c of [alice, bob, carol]) track(await connectWithFlags(c));
    // Bob's second socket gets its own push on connecting.
    const bob2 = track(await connectWithFlags(await SocialClient.login(gw.url, bob.user.handle)));
    const pushed = [alice, bob, bob2, carol].map((c) => c.waitFor('flags:changed', (p) => p.flags[key] === (c === alice)));
    await putFlag(gw.url, key, { allowUserIds: [alice.id] });
    await Promise.all(pushed);
    await flushExperiment(gw);
    // A change is pushed once per user (to all their sockets): one more evaluation each.
    expect(countsOf(await allExposures(gw.url, key))).toEqual({
      [`${alice.id}:false`]: 1,
      [`${alice.id}:true`]: 1,
      [`${bob.id}:false`]: 3,
      [`${carol.id}:false`]: 2,
    });
  });

  it('a report window leaves out what came before it; both variants are always there', async () => {
    const key = newKey();
    await putFlag(gw.url, key, { enabled: true, rolloutPercent: 100 });
    const u = await login(gw.url, 'early');
    await u.http('GET', '/flags');
    await flushExperiment(gw);
    const before = await report(gw.url, key);
    expect(before.since).toBeNull();
    expect(before.variants.map((v) => [v.value, v.users])).toEqual([
      [false, 0],
      [true, 1],
    ]);
    // The earliest instant the contract accepts counts everything, like no window.
    const res = await http<FlagReportDto>(gw.url, 'GET', `/admin/flags/${key}/report?since=0000-01-01T00:00:00Z`);
    expect(res.status).toBe(200);
    expect(res.body.since).toBe('0000-01-01T00:00:00.000Z');
    expect(res.body.variants[1].users).toBe(1);
    const later = await report(gw.url, key, new Date(Date.now() + 60_000));
    expect(later.variants.map((v) => [v.value, v.users, v.calls.attempted])).toEqual([
      [false, 0, 0],
      [true, 0, 0],
    ]);
  });

  describe('bad requests', () => {
    it.each([
      ['/admin/flags/Bad-Key/exposures', 'key'],
      ['/admin/flags/Bad-Key/report', 'key'],
      ['/admin/flags/video_call/exposures?limit=0', 'limit'],
      ['/admin/flags/video_call/exposures?limit=101', 'limit'],
      ['/admin/flags/video_call/exposures?limit=ten', 'limit'],
      ['/admin/flags/video_call/exposures?cursor=bm9wZQ', 'cursor'],
      ['/admin/flags/video_call/exposures?cursor=', 'cursor'],
      ['/admin/flags/video_call/report?since=yesterday', 'since'],
      ['/admin/flags/video_call/report?since=2026-13-01T00:00:00Z', 'since'],
    ])('GET %s is VALIDATION_FAILED naming %s', async (path, field) => {
      const res = await http(gw.url, 'GET', path);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('an unknown flag is NOT_FOUND', async () => {
      for (const route of ['exposures', 'report']) {
        const res = await http(gw.url, 'GET', `/admin/flags/${newKey()}/${route}`);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
    });

    it('needs the admin token: 401 without one, 403 with a user token or a wrong one', async () => {
      const alice = await login(gw.url, 'alice');
      for (const route of ['exposures', 'report']) {
        const path = `/admin/flags/video_call/${route}`;
        const missing = await http(gw.url, 'GET', path, undefined, {});
        expect(missing.status).toBe(401);
        expect(missing.body.error.code).toBe('UNAUTHENTICATED');
        for (const authorization of [`Bearer ${alice.token}`, 'Bearer wrong-token-123']) {
          const res = await http(gw.url, 'GET', path, undefined, { authorization });
          expect(res.status).toBe(403);
          expect(res.body.error.code).toBe('FORBIDDEN');
        }
      }
    });
  });
});

describe('experiments: exposures are durable and shared by processes', () => {
  jest.setTimeout(120_000);
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function storedCounts(key: string): Promise<Record<string, number>> {
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    try {
      const { rows } = await pg.query(`SELECT user_id AS "userId", value, count FROM flag_exposures WHERE flag_key = $1`, [key]);
      return countsOf(rows);
    } finally {
      await pg.end();
    }
  }

  it('survives a restart: what is waiting is written as the gateway stops', async () => {
    const key = newKey();
    const first = await startTestGateway({ db });
    let users: SocialClient[] = [];
    try {
      await putFlag(first.url, key, { enabled: true, rolloutPercent: 100 });
      users = await Promise.all([login(first.url, 'r1'), login(first.url, 'r2')]);
      for (const u of users) for (let i = 0; i < 3; i++) await u.http('GET', '/flags');
    } finally {
      // No explicit flush: stopping writes what is waiting.
      await first.close();
    }
    const second = await startTestGateway({ db });
    try {
      expect(countsOf(await allExposures(second.url, key))).toEqual({
        [`${users[0].id}:true`]: 3,
        [`${users[1].id}:true`]: 3,
      });
    } finally {
      await second.close();
    }
  });

  it('two gateway processes (Redis between them) add into the same rows', async () => {
    const key = newKey();
    // Users and the flag exist before the processes start, so both evaluate the same definition from the start.
    const setup = await startTestGateway({ db });
    let users: SocialClient[] = [];
    try {
      users = await Promise.all([login(setup.url, 'p1'), login(setup.url, 'p2'), login(setup.url, 'p3')]);
      await putFlag(setup.url, key, { enabled: true, rolloutPercent: 0, allowUserIds: [users[0].id] });
    } finally {
      await setup.close();
    }
    const env = { REDIS_URL, MEDIA_WORKERS: '1', SHUTDOWN_DRAIN_MS: '0' };
    const [a, b] = await Promise.all([spawnGateway(db.url, env), spawnGateway(db.url, env)]);
    try {
      const getFlags = async (url: string, u: SocialClient) => {
        const res = await fetch(`${url}/flags`, { headers: { authorization: `Bearer ${u.token}` } });
        expect(res.status).toBe(200);
        return ((await res.json()) as { flags: Record<string, boolean> }).flags[key];
      };
      const expected: Record<string, number> = {};
      for (const [i, u] of users.entries()) {
        // Interleaved, so both processes hold rows of the same user at once.
        for (let n = 0; n < i + 2; n++) {
          expect(await getFlags(a.url, u)).toBe(i === 0);
          expect(await getFlags(b.url, u)).toBe(i === 0);
        }
        expected[`${u.id}:${i === 0}`] = 2 * (i + 2);
      }
      // SIGTERM: each process writes what it still holds as it stops.
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]);
      expect(await storedCounts(key)).toEqual(expected);
    } finally {
      for (const p of [a, b]) if (p.process.exitCode === null && p.process.signalCode === null) await p.kill();
    }
  });
});
