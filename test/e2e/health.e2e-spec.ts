import { Client } from 'pg';
import { SocialClient } from '@app/client';
import {
  connectedUser,
  createTestDatabase,
  sleep,
  spawnGateway,
  startTestGateway,
  TEST_SERVER_URL,
  TestDatabase,
  TestGateway,
  uniqueHandle,
  waitForValue,
} from '@app/testing';

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Connections the test database has open now, of any client. */
async function connectionsTo(database: string): Promise<number> {
  const admin = new Client({ connectionString: TEST_SERVER_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [database]);
    return rows[0].n;
  } finally {
    await admin.end();
  }
}

async function onTestServer(sql: string): Promise<void> {
  const admin = new Client({ connectionString: TEST_SERVER_URL });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

const POOL_SIZE = 6;

describe('liveness, readiness and drain', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { DATABASE_POOL_SIZE: String(POOL_SIZE) } });
  });
  afterAll(async () => {
    await onTestServer(`ALTER DATABASE "${gw.db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await gw?.close();
  });

  it('is live and ready while the database answers, and /health keeps its shape', async () => {
    expect(await json(`${gw.url}/health/live`)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await json(`${gw.url}/health/ready`)).toEqual({ status: 200, body: { ready: true, db: 'up', draining: false } });
    expect(await json(`${gw.url}/health`)).toMatchObject({ status: 200, body: { status: 'ok', db: 'up', media: 'up' } });
  });

  it('a flood of 400 concurrent /health/ready and /health keeps answering 200 and opens no connection per request', async () => {
    let peak = await connectionsTo(gw.db.name);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await connectionsTo(gw.db.name));
        await sleep(5);
      }
    })();
    const flood = await Promise.all(Array.from({ length: 400 }, (_, i) => json(`${gw.url}${i % 4 === 3 ? '/health' : '/health/ready'}`)));
    sampling = false;
    await sampler;
    expect(flood.filter((r) => r.status !== 200)).toEqual([]);
    // The pool's connections, the LISTEN one and at most one probe: before the fix each request opened its own (36 of them).
    expect(peak).toBeLessThanOrEqual(POOL_SIZE);
  });

  it('is not ready while the database refuses connections, and ready again after (within a probe interval)', async () => {
    await onTestServer(`ALTER DATABASE "${gw.db.name}" ALLOW_CONNECTIONS false`);
    const down = await waitForValue(async () => {
      const r = await json(`${gw.url}/health/ready`);
      return r.status === 503 ? r : undefined;
    });
    expect(down).toEqual({ status: 503, body: { ready: false, db: 'down', draining: false } });
    expect((await json(`${gw.url}/health/live`)).status).toBe(200);
    await onTestServer(`ALTER DATABASE "${gw.db.name}" ALLOW_CONNECTIONS true`);
    await waitForValue(async () => ((await json(`${gw.url}/health/ready`)).status === 200 ? true : undefined));
  });

  it('draining: not ready, new calls refused, messages still served', async () => {
    const alice = await connectedUser(gw, 'alice');
    const bob = await connectedUser(gw, 'bob');
    await alice.contacts.add(bob.id);
    await bob.contacts.add(alice.id);
    gw.drain();
    expect(await json(`${gw.url}/health/ready`)).toEqual({ status: 503, body: { ready: false, db: 'unknown', draining: true } });
    expect((await json(`${gw.url}/health/live`)).status).toBe(200);
    const ack = await alice.rawRequest('call:invite', { to: bob.id });
    expect(ack).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'INTERNAL', details: { reason: 'draining', retryAfterMs: expect.any(Number) } }),
    });
    await expect(alice.messages.send(bob.id, 'still here')).resolves.toBeDefined();
    alice.disconnect();
    bob.disconnect();
  });
});

describe('SIGTERM', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('turns readiness off for SHUTDOWN_DRAIN_MS, then stops cleanly', async () => {
    const gw = await spawnGateway(db.url, { SHUTDOWN_DRAIN_MS: '4000' });
    const client = await (await SocialClient.login(gw.url, uniqueHandle())).connect({ reconnection: false });
    expect((await json(`${gw.url}/health/ready`)).status).toBe(200);
    const exited = gw.stop();
    // Poll until the signal has been handled (bounded by the drain window).
    let ready = await json(`${gw.url}/health/ready`);
    for (let i = 0; i < 40 && ready.status === 200; i++) {
      await sleep(50);
      ready = await json(`${gw.url}/health/ready`);
    }
    expect(ready).toEqual({ status: 503, body: { ready: false, db: 'unknown', draining: true } });
    expect(client.connected).toBe(true);
    expect(await exited).toBe(0);
    const drainedAt = gw.logs.findIndex((l) => l.includes('draining: not ready'));
    const stoppedAt = gw.logs.findIndex((l) => l.includes('gateway stopped'));
    expect(drainedAt).toBeGreaterThanOrEqual(0);
    expect(stoppedAt).toBeGreaterThan(drainedAt);
    client.disconnect();
  });
});
