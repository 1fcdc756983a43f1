import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Client } from 'pg';
import { io } from 'socket.io-client';
import { SocialClient, ClientError } from '@app/client';
import { WorkerPool } from '@app/media';
import { connectedUser, startTestGateway, TestGateway, uniqueHandle, sleep } from '@app/testing';

// A full collection on demand (the 'keeps nothing of the upgrade request' case).
setFlagsFromString('--expose-gc');

describe('foundation: auth, errors, health', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('dev-login creates a user once and returns it again', async () => {
    const handle = uniqueHandle('alice');
    const a = await SocialClient.login(gw.url, handle, 'Alice');
    const again = await SocialClient.login(gw.url, handle, 'Other');
    expect(again.user).toEqual(a.user);
    expect(a.user).toMatchObject({ handle, displayName: 'Alice' });
    expect(await a.http('GET', '/users/me')).toEqual(a.user);
    const bob = await SocialClient.login(gw.url, uniqueHandle('bob'));
    expect(await bob.http('GET', `/users/by-handle/${handle}`)).toEqual(a.user);
  });

  it('refuses bad handles with VALIDATION_FAILED naming the field', async () => {
    for (const handle of ['ab', 'UPPER', 'x'.repeat(33), 'sp ace', 7, null]) {
      const err = await SocialClient.login(gw.url, handle as string).catch((e) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.status).toBe(400);
      expect(err.details.fields[0].field).toBe('handle');
    }
  });

  it('answers malformed JSON and unknown routes with the envelope', async () => {
    const res = await fetch(`${gw.url}/auth/dev-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"handle":',
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('VALIDATION_FAILED');
    const missing = await fetch(`${gw.url}/no/such/route`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('NOT_FOUND');
  });

  it('refuses HTTP without a valid token', async () => {
    for (const authorization of [undefined, 'Bearer nope', 'Basic abc']) {
      const res = await fetch(`${gw.url}/users/me`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a socket without a valid token at the handshake', async () => {
    for (const auth of [{}, { token: 'garbage' }]) {
      const socket = io(gw.url, { auth, transports: ['websocket'], reconnection: false });
      const message = await new Promise<string>((resolve) => socket.on('connect_error', (e) => resolve(e.message)));
      socket.close();
      expect(message).toBe('UNAUTHENTICATED');
    }
  });

  it('answers an unknown socket event instead of staying silent', async () => {
    const c = await (await SocialClient.login(gw.url, uniqueHandle())).connect();
    const ack = await c.rawRequest('no:such-event', { x: 1 });
    expect(ack).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'VALIDATION_FAILED', details: { event: 'no:such-event' } }),
    });
    c.disconnect();
  });

  it("keeps nothing of a connected socket's upgrade request (its headers are collectable) and goes on serving it", async () => {
    const collect = runInNewContext('gc', {}) as () => void;
    let headers: WeakRef<object> | undefined;
    let rawHeaders: WeakRef<object> | undefined;
    const server = gw.app.getHttpServer() as import('node:http').Server;
    // Runs before engine.io's own 'upgrade' listener, with the same request object.
    const onUpgrade = (req: import('node:http').IncomingMessage) => {
      headers = new WeakRef(req.headers);
      rawHeaders = new WeakRef(req.rawHeaders);
    };
    server.prependListener('upgrade', onUpgrade);
    const c = await (await SocialClient.login(gw.url, uniqueHandle())).connect();
    server.off('upgrade', onUpgrade);
    expect(headers?.deref()).toBeDefined();
    for (let i = 0; i < 3 && (headers?.deref() || rawHeaders?.deref()); i++) {
      await sleep(20);
      collect();
    }
    expect(headers!.deref()).toBeUndefined();
    expect(rawHeaders!.deref()).toBeUndefined();
    // The socket still answers, and its close still gives its place back.
    expect(await c.rawRequest('no:such-event', {})).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    c.disconnect();
  });

  it('reports health with db and media up, and Prometheus metrics', async () => {
    const res = await fetch(`${gw.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', db: 'up', media: 'up' });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('socket_connections');
    expect(metrics).toContain('process_cpu_user_seconds_total');
  });
});

describe('media worker pool', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { MEDIA_WORKERS: '2' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('replaces a worker that dies, and health reports it meanwhile', async () => {
    const pool = gw.get(WorkerPool);
    const before = pool.workers().map((w) => w.pid);
    expect(before).toHaveLength(2);
    const died = new Promise<number>((resolve) => pool.onWorkerDied(resolve));
    process.kill(before[0], 'SIGKILL');
    expect(await died).toBe(before[0]);
    for (let i = 0; i < 100 && !pool.isHealthy(); i++) await sleep(50);
    const after = pool.workers().map((w) => w.pid);
    expect(after).toHaveLength(2);
    expect(after).not.toContain(before[0]);
    expect(after).toContain(before[1]);
    const res = await fetch(`${gw.url}/health`);
    expect(res.status).toBe(200);
  });
});

describe('operability metrics', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('counts HTTP requests by route and socket events by outcome', async () => {
    const c = await (await SocialClient.login(gw.url, uniqueHandle())).connect();
    await c.http('GET', '/users/me');
    await c.rawRequest('no:such-event', {});
    await c.rawRequest('dm:send', { to: 'not-a-uuid' });
    c.disconnect();
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/users\/me",status="200"\} 1/);
    expect(text).toMatch(/socket_events_total\{event="dm:send",outcome="VALIDATION_FAILED"\} 1/);
  });
});

describe('requests refused by the HTTP parser', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers an oversized URL with the error envelope', async () => {
    const res = await fetch(`${gw.url}/users/by-handle/${'a'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect((await res.json()).error.code).toBe('VALIDATION_FAILED');
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  });
});

describe('database connections', () => {
  const POOL_SIZE = 4;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { DATABASE_POOL_SIZE: String(POOL_SIZE) } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('holds one pool for Prisma, plain SQL and the scheduler, and reports it in /metrics', async () => {
    const [alice, bob] = await Promise.all([connectedUser(gw, 'pool_a'), connectedUser(gw, 'pool_b')]);
    try {
      await alice.contacts.add(bob.user.id);
      await bob.contacts.add(alice.user.id);
      // Send path (plain SQL), Prisma reads and scheduler timers, all at once.
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => alice.messages.send(bob.user.id, `m${i}`)),
        bob.messages.history((await alice.messages.send(bob.user.id, 'first')).conversationId),
        alice.calls.invite(bob.user.id).then((call) => alice.calls.cancel(call.id)),
      ]);

      const server = new Client({ connectionString: gw.db.url });
      await server.connect();
      try {
        const { rows } = await server.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        // The pool, the LISTEN connection, and at most one health probe or start-up connection closing.
        expect(rows[0].n).toBeLessThanOrEqual(POOL_SIZE + 2);
      } finally {
        await server.end();
      }

      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      const held = (use: string) => Number(new RegExp(`^db_connections\\{use="${use}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(held('listen')).toBe(1);
      expect(held('pool_busy') + held('pool_idle')).toBeGreaterThan(0);
      expect(held('pool_busy') + held('pool_idle')).toBeLessThanOrEqual(POOL_SIZE);
      expect(metrics).toMatch(/^db_pool_waiting \d+$/m);
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  });
});
