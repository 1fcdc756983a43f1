import crypto from 'node:crypto';
import { Client } from 'pg';
import { SocialClient } from '@app/client';
import type { FlagAuditEntryDto, FlagDefinitionDto } from '@app/contracts';
import { FlagsService } from '@app/flags';
import {
  SeededRandom,
  SpawnedGateway,
  TEST_ADMIN_TOKEN,
  TestGateway,
  spawnGateway,
  startTestGateway,
  uniqueHandle,
  waitForValue,
} from '@app/testing';

interface HttpResult<T = any> {
  status: number;
  body: T;
}

async function admin<T = any>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
): Promise<HttpResult<T>> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Named admin tokens of the flags gateway (ADMIN_TOKENS), beside the plain ADMIN_TOKEN (named "admin"). */
const NAMED_ADMIN_TOKENS: Record<string, string> = { 'ops-jane': 'jane-admin-token-0001', 'ops-joe': 'joe-admin-token-0002' };

async function putFlag(url: string, key: string, body: unknown, actor?: string): Promise<FlagDefinitionDto> {
  const token = actor ? NAMED_ADMIN_TOKENS[actor] : TEST_ADMIN_TOKEN;
  // A claimed name in a header is no identity: the audit must ignore it.
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-admin-actor': 'someone-else' };
  const res = await admin<FlagDefinitionDto>(url, 'PUT', `/admin/flags/${key}`, body, headers);
  if (res.status !== 200) throw new Error(`PUT ${key}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const newKey = (prefix = 'exp') => `${prefix}_${crypto.randomBytes(4).toString('hex')}`;

async function user(url: string, prefix: string, connect = true): Promise<SocialClient> {
  const c = await SocialClient.login(url, uniqueHandle(prefix));
  return connect ? c.connect() : c;
}

const LISTENING = `datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`;

/**
 * Ends every session of the database that LISTENs (each process's change
 * feed), once at least `processes` of them are listening (a feed cut by an
 * earlier test takes a moment to come back); how many were ended.
 */
async function cutListenConnections(databaseUrl: string, processes: number): Promise<number> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    await waitForValue(async () => {
      const { rows } = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${LISTENING}`);
      return rows[0].n >= processes ? true : undefined;
    });
    const cut = await pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${LISTENING}`);
    return cut.rowCount ?? 0;
  } finally {
    await pg.end();
  }
}

describe('feature flags', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const track = (c: SocialClient) => (clients.push(c), c);

  beforeAll(async () => {
    gw = await startTestGateway({
      env: {
        ADMIN_TOKENS: Object.entries(NAMED_ADMIN_TOKENS)
          .map(([name, token]) => `${name}:${token}`)
          .join(','),
      },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
  });

  it('has video_call from the first start, switched off for everyone', async () => {
    const list = await admin<{ flags: FlagDefinitionDto[] }>(gw.url, 'GET', '/admin/flags');
    expect(list.status).toBe(200);
    expect(list.body.flags.find((f) => f.key === 'video_call')).toMatchObject({
      key: 'video_call',
      enabled: false,
      rolloutPercent: 0,
      allowUserIds: [],
      denyUserIds: [],
      updatedAt: expect.any(String),
    });
    const alice = await user(gw.url, 'alice', false);
    expect(await alice.http('GET', '/flags')).toEqual({ flags: expect.objectContaining({ video_call: false }) });
  });

  it('sends the current flags to a socket as it connects', async () => {
    const alice = await user(gw.url, 'alice', false);
    const connecting = alice.connect();
    const first = alice.waitFor('flags:changed');
    track(await connecting);
    expect((await first).flags.video_call).toBe(false);
  });

  it('GET /flags needs a signed-in user', async () => {
    const res = await fetch(`${gw.url}/flags`);
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('UNAUTHENTICATED');
  });

  describe('admin authentication', () => {
    it('refuses a missing token (401), a wrong one and a user token (403); accepts the right one', async () => {
      const alice = await user(gw.url, 'alice', false);
      const missing = await admin(gw.url, 'GET', '/admin/flags', undefined, {});
      expect(missing.status).toBe(401);
      expect(missing.body.error.code).toBe('UNAUTHENTICATED');
      for (const authorization of ['Bearer wrong-token-123', `Bearer ${alice.token}`]) {
        for (const [method, path, body] of [
          ['GET', '/admin/flags', undefined],
          ['PUT', '/admin/flags/video_call', { enabled: true }],
          ['GET', '/admin/flags/video_call/audit', undefined],
        ] as const) {
          const res = await admin(gw.url, method, path, body, { authorization });
          expect(res.status).toBe(403);
          expect(res.body.error.code).toBe('FORBIDDEN');
        }
      }
      const list = await admin(gw.url, 'GET', '/admin/flags');
      expect(list.status).toBe(200);
      // The refused PUT changed nothing.
      expect(list.body.flags.find((f: FlagDefinitionDto) => f.key === 'video_call').enabled).toBe(false);
    });

    it('is closed when no ADMIN_TOKEN is configured', async () => {
      const closed = await startTestGateway({ db: gw.db, env: { ADMIN_TOKEN: '' } });
      try {
        for (const authorization of [`Bearer ${TEST_ADMIN_TOKEN}`, 'Bearer ', '']) {
          const res = await admin(closed.url, 'PUT', '/admin/flags/video_call', { enabled: true }, { authorization });
          expect(res.status).toBe(403);
          expect(res.body.error.code).toBe('FORBIDDEN');
        }
      } finally {
        await closed.close();
      }
    });
  });

  describe('validation', () => {
    it.each([
      [{ rolloutPercent: 101 }, 'rolloutPercent'],
      [{ rolloutPercent: -1 }, 'rolloutPercent'],
      [{ rolloutPercent: 12.5 }, 'rolloutPercent'],
      [{ rolloutPercent: '50' }, 'rolloutPercent'],
      [{ enabled: 'yes' }, 'enabled'],
      [{ allowUserIds: ['not-a-uuid'] }, 'allowUserIds.0'],
      [{ denyUserIds: 'x' }, 'denyUserIds'],
      [{ enabeld: true }, 'body'],
      [[], 'body'],
    ])('refuses %j naming %s', async (body, field) => {
      const res = await admin(gw.url, 'PUT', '/admin/flags/video_call', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('refuses user ids that are not users, naming them, and changes nothing', async () => {
      const alice = await user(gw.url, 'alice', false);
      const ghost = crypto.randomUUID();
      const ghost2 = crypto.randomUUID();
      const key = newKey();
      await putFlag(gw.url, key, { enabled: true });
      const res = await admin(gw.url, 'PUT', `/admin/flags/${key}`, {
        allowUserIds: [alice.id, ghost],
        denyUserIds: [ghost2],
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.unknownUserIds.sort()).toEqual([ghost, ghost2].sort());
      expect(res.body.error.details.fields).toEqual([
        { field: 'allowUserIds', message: expect.stringContaining(ghost) },
        { field: 'denyUserIds', message: expect.stringContaining(ghost2) },
      ]);
      const audit = await admin(gw.url, 'GET', `/admin/flags/${key}/audit`);
      expect(audit.body.entries).toHaveLength(1);
    });

    it('refuses a malformed key; audit of an unknown key is NOT_FOUND', async () => {
      const bad = await admin(gw.url, 'PUT', '/admin/flags/Bad-Key', { enabled: true });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.fields[0].field).toBe('key');
      const missing = await admin(gw.url, 'GET', `/admin/flags/${newKey('none')}/audit`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
      const badLimit = await admin(gw.url, 'GET', '/admin/flags/video_call/audit?limit=0');
      expect(badLimit.status).toBe(400);
    });
  });

  it('creates a flag on PUT of a new key: off, 0 %, then the change', async () => {
    const key = newKey();
    const created = await putFlag(gw.url, key, { description: 'an experiment', rolloutPercent: 20 });
    expect(created).toEqual({
      key,
      description: 'an experiment',
      enabled: false,
      rolloutPercent: 20,
      allowUserIds: [],
      denyUserIds: [],
      updatedAt: expect.any(String),
    });
    const alice = await user(gw.url, 'alice', false);
    expect((await alice.route('GET /flags', '/flags')).flags[key]).toBe(false);
  });

  it('turns a flag on for allow-listed users only, and the deny list wins', async () => {
    const key = newKey();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((p) => user(gw.url, p, false)));
    await putFlag(gw.url, key, { enabled: true, rolloutPercent: 0, allowUserIds: [alice.id, carol.id] });
    const flagOf = async (c: SocialClient) => (await c.route('GET /flags', '/flags')).flags[key];
    expect([await flagOf(alice), await flagOf(bob), await flagOf(carol)]).toEqual([true, false, true]);
    await putFlag(gw.url, key, { denyUserIds: [carol.id] });
    expect([await flagOf(alice), await flagOf(bob), await flagOf(carol)]).toEqual([true, false, false]);
    // The kill switch turns it off even for the allow list, and keeps the lists for later.
    const off = await putFlag(gw.url, key, { enabled: false });
    expect(off.allowUserIds.sort()).toEqual([alice.id, carol.id].sort());
    expect(await flagOf(alice)).toBe(false);
  });

  it('rolls out to about the asked share of 1,000 users, the same users every time', async () => {
    // A fixed key and fixed ids: the share is the same on every run, so the bound cannot fail by chance.
    const key = 'rollout_share';
    await putFlag(gw.url, key, { enabled: true, rolloutPercent: 30 });
    const flags = gw.get(FlagsService);
    const random = new SeededRandom(30);
    const ids = Array.from({ length: 1000 }, () => random.uuid());
    const first = await Promise.all(ids.map((id) => flags.isEnabled(key, id)));
    const share = first.filter(Boolean).length / 10;
    expect(Math.abs(share - 30)).toBeLessThanOrEqual(5);
    expect(await Promise.all(ids.map((id) => flags.isEnabled(key, id)))).toEqual(first);

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const count = (result: string) =>
      Number(new RegExp(`flag_evaluations_total\\{flag="${key}",result="${result}"\\} (\\d+)`).exec(metrics)?.[1]);
    // Every one of these evaluations is counted; pushes to sockets still connected may add a few.
    const on = 2 * first.filter(Boolean).length;
    const off = 2 * first.filter((v) => !v).length;
    expect(count('on')).toBeGreaterThanOrEqual(on);
    expect(count('off')).toBeGreaterThanOrEqual(off);
    expect(count('on') + count('off')).toBeLessThanOrEqual(on + off + clients.length);
  });

  it('pushes each connected user their own evaluation within a second of a change', async () => {
    const alice = track(await user(gw.url, 'alice'));
    const bob = track(await user(gw.url, 'bob'));
    const bobSecondSocket = track(await SocialClient.login(gw.url, bob.user.handle).then((c) => c.connect()));
    const key = newKey();
    const started = Date.now();
    const seen = [alice, bob, bobSecondSocket].map((c) =>
      c.waitFor('flags:changed', (p) => key in p.flags, 5_000).then((p) => ({ flags: p.flags, ms: Date.now() - started })),
    );
    await putFlag(gw.url, key, { enabled: true, allowUserIds: [alice.id] });
    const [forAlice, forBob, forBob2] = await Promise.all(seen);
    expect(forAlice.flags[key]).toBe(true);
    expect(forBob.flags[key]).toBe(false);
    expect(forBob2.flags[key]).toBe(false);
    expect(forAlice.flags.video_call).toBe(false);
    for (const s of [forAlice, forBob, forBob2]) expect(s.ms).toBeLessThan(1_000);
  });

  it('keeps an audit trail: when, who, before and after, newest first', async () => {
    const key = newKey();
    const alice = await user(gw.url, 'alice', false);
    const t0 = Date.now();
    await putFlag(gw.url, key, { description: 'audited' }, 'ops-jane');
    await putFlag(gw.url, key, { enabled: true, rolloutPercent: 10 });
    await putFlag(gw.url, key, { allowUserIds: [alice.id] }, 'ops-joe');
    await putFlag(gw.url, key, { allowUserIds: [alice.id] }); // no change: no entry
    const res = await admin<{ entries: FlagAuditEntryDto[] }>(gw.url, 'GET', `/admin/flags/${key}/audit`);
    expect(res.status).toBe(200);
    const { entries } = res.body;
    expect(entries.map((e) => e.actor)).toEqual(['ops-joe', 'admin', 'ops-jane']);
    const [third, second, first] = entries;
    expect(first.before).toBeNull();
    expect(first.after).toEqual({
      key,
      description: 'audited',
      enabled: false,
      rolloutPercent: 0,
      allowUserIds: [],
      denyUserIds: [],
    });
    expect(second.before).toEqual(first.after);
    expect(second.after).toMatchObject({ enabled: true, rolloutPercent: 10 });
    expect(third.before).toEqual(second.after);
    expect(third.after.allowUserIds).toEqual([alice.id]);
    for (const e of entries) expect(Date.parse(e.at)).toBeGreaterThanOrEqual(t0 - 1_000);
    const limited = await admin(gw.url, 'GET', `/admin/flags/${key}/audit?limit=1`);
    expect(limited.body.entries).toEqual([third]);
  });

  it('serialises concurrent changes: each audit entry starts where the previous one ended', async () => {
    const key = newKey();
    await putFlag(gw.url, key, { enabled: true });
    await Promise.all(Array.from({ length: 10 }, (_, i) => putFlag(gw.url, key, { rolloutPercent: i + 1 })));
    const { entries } = (await admin<{ entries: FlagAuditEntryDto[] }>(gw.url, 'GET', `/admin/flags/${key}/audit`)).body;
    expect(entries).toHaveLength(11);
    for (let i = 0; i < entries.length - 1; i++) expect(entries[i].before).toEqual(entries[i + 1].after);
    const final = (await admin<{ flags: FlagDefinitionDto[] }>(gw.url, 'GET', '/admin/flags')).body.flags.find((f) => f.key === key);
    expect(final?.rolloutPercent).toBe(entries[0].after.rolloutPercent);
  });

  describe('across gateway processes sharing the database', () => {
    let second: TestGateway;
    let spawned: SpawnedGateway;
    beforeAll(async () => {
      [second, spawned] = await Promise.all([startTestGateway({ db: gw.db }), spawnGateway(gw.db.url)]);
    });
    afterAll(async () => {
      await second?.close();
      await spawned?.stop();
    });

    it('a change on one process reaches sockets and onChange listeners on every other', async () => {
      const key = newKey();
      const alice = track(await user(gw.url, 'alice'));
      const bob = track(await user(second.url, 'bob'));
      const carol = track(await user(spawned.url, 'carol'));
      const heardBySecond = new Promise<string>((resolve) =>
        second.get(FlagsService).onChange((changed) => {
          if (changed === key) resolve(changed);
        }),
      );
      const pushed = [alice, bob, carol].map((c) => c.waitFor('flags:changed', (p) => key in p.flags, 5_000));
      await putFlag(spawned.url, key, { enabled: true, allowUserIds: [bob.id, carol.id] });
      const [a, b, c] = await Promise.all(pushed);
      expect([a.flags[key], b.flags[key], c.flags[key]]).toEqual([false, true, true]);
      expect(await heardBySecond).toBe(key);
      // Evaluation on the other process follows too (no restart).
      expect(await second.get(FlagsService).isEnabled(key, bob.id)).toBe(true);
    });

    it('the process that makes a change announces it before answering, echo or no echo, and only once', async () => {
      const [key, later] = [newKey(), newKey()];
      const heard: string[] = [];
      gw.get(FlagsService).onChange((changed) => {
        if (changed === key || changed === later) heard.push(changed);
      });
      const [alice, bob] = [await user(gw.url, 'alice', false), await user(gw.url, 'bob', false)];
      // With the change feed cut, no process learns of this change from the feed's echo.
      expect(await cutListenConnections(gw.db.url, 3)).toBeGreaterThanOrEqual(3);
      // Lists too: the definition read back from the database must compare equal to the one applied.
      await putFlag(gw.url, key, { enabled: true, allowUserIds: [alice.id.toUpperCase(), alice.id], denyUserIds: [bob.id] });
      // So a socket that connects after the answer is pushed the new value once, on connecting.
      expect(heard).toEqual([key]);
      // The feed comes back and its resync compares every flag: the later change is news here, ours is not.
      await putFlag(spawned.url, later, { enabled: true });
      await waitForValue(async () => (heard.includes(later) ? true : undefined));
      expect(heard).toEqual([key, later]);
    });

    it('keeps hearing changes after its LISTEN connection is cut', async () => {
      expect(await cutListenConnections(gw.db.url, 3)).toBeGreaterThanOrEqual(3);
      const alice = track(await user(gw.url, 'alice'));
      const bob = track(await user(second.url, 'bob'));
      const key = newKey();
      // Changes made while the listeners reconnect are caught up by their resync.
      const pushed = [alice, bob].map((c) => c.waitFor('flags:changed', (p) => p.flags[key] === true, 10_000));
      await putFlag(spawned.url, key, { enabled: true, rolloutPercent: 100 });
      await Promise.all(pushed);
      expect(await second.get(FlagsService).isEnabled(key, bob.id)).toBe(true);
    });
  });
});
