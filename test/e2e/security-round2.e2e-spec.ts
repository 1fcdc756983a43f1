import crypto from 'node:crypto';
import http from 'node:http';
import { io, Socket } from 'socket.io-client';
import { AdminClient, SocialClient } from '@app/client';
import { DatabasePool } from '@app/database';
import { AuthService } from '@app/auth';
import { RealtimeService } from '@app/realtime';
import { DirectMessagesService } from '@app/messaging';
import { encodePreviousSyncCursor } from '../../libs/messaging/src/sync-cursor';
import {
  pushFence,
  spawnGateway,
  startTestGateway,
  TEST_ADMIN_TOKEN,
  testEnv,
  TestGateway,
  uniqueHandle,
  waitForValue,
} from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = testEnv('postgresql://x@h/d').JWT_SECRET;
const ONE_MB = 1024 * 1024;

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** One HTTP request through node:http, so the source address and every header can be chosen. */
function request(
  url: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<HttpAnswer> {
  const target = new URL(path, url);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      target,
      {
        method,
        localAddress: options.localAddress,
        agent: false,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON (Prometheus text): kept as text.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An HS256 token of `claims` signed with `secret`, assembled by hand. */
function signed(claims: Record<string, unknown>, secret = JWT_SECRET): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function rawSocket(url: string, token: string): Socket {
  return io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

function emitWithAck(socket: Socket, event: string, payload: unknown): Promise<any> {
  return new Promise((resolve) => socket.emit(event, payload, resolve));
}

/**
 * The most a steady-plus-burst limit (fixed windows: `perSecond` per second,
 * and `burst - perSecond` more per burst window) can accept within `elapsedS`:
 * every window the time touches, counted whole.
 */
function mostAccepted(limit: { perSecond: number; burst: number }, elapsedS: number): number {
  const burstWindowS = Math.max(1, Math.ceil(limit.burst / limit.perSecond));
  return limit.perSecond * (Math.ceil(elapsedS) + 1) + (limit.burst - limit.perSecond) * (Math.ceil(elapsedS / burstWindowS) + 1);
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inBatches<T, R>(items: T[], limit: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * The second round of attacks (issue 24), each replayed against real
 * gateways, PostgreSQL and Redis and shown refused: what one user does no
 * longer grows without bound, bad numbers are VALIDATION_FAILED, HTTP is
 * rate limited, revocation cannot be raced, and the defaults are safe.
 */
describe('security, second round', () => {
  // Two processes' worth of gateways on one database and one Redis, with small HTTP limits.
  let one: TestGateway;
  let two: TestGateway;
  const clients: SocialClient[] = [];
  const sockets: Socket[] = [];
  const HTTP_USER = { perSecond: 5, burst: 10 };

  beforeAll(async () => {
    const env = {
      REDIS_URL,
      HTTP_USER_RATE_PER_SEC: String(HTTP_USER.perSecond),
      HTTP_USER_RATE_BURST: String(HTTP_USER.burst),
      HTTP_ADDRESS_RATE_PER_SEC: '5',
      HTTP_ADDRESS_RATE_BURST: '10',
      // Loopback's first address only: requests from 127.0.0.2 stand for a client elsewhere.
      HTTP_RATE_EXEMPT_CIDRS: '127.0.0.1/32',
      DM_RATE_PER_SEC: '1000',
      DM_RATE_BURST: '1000',
      EVENT_RATE_SCALE: '100',
      METRICS_TOKEN: 'metrics-token-0123',
      ADMIN_TOKENS: 'alice:alice-admin-token-1',
    };
    one = await startTestGateway({ env });
    two = await startTestGateway({ env, db: one.db });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of clients) c.disconnect();
    await two?.close();
    await one?.close();
  });

  async function user(gw: { url: string }, prefix = 'sec2', connect = true): Promise<SocialClient> {
    const c = await SocialClient.login(gw.url, uniqueHandle(prefix));
    clients.push(c);
    return connect ? c.connect({ syncOnConnect: false }) : c;
  }

  describe('growth without bound', () => {
    it('1,200 senders write to one user: every dm:sync answer stays under 1 MB with a small cursor, and pages through all', async () => {
      const victim = await user(one, 'popular', false);
      const auth = one.get(AuthService);
      const dms = one.get(DirectMessagesService);
      const run = crypto.randomBytes(3).toString('hex');
      const senders = await inBatches(
        Array.from({ length: 1200 }, (_, i) => `fan_${run}_${i}`),
        16,
        async (handle) => (await auth.issueFor(handle)).user.id,
      );
      await inBatches(senders, 32, (senderId, i) =>
        dms.send(senderId, { to: victim.id, clientMsgId: crypto.randomUUID(), body: `hello ${i} ${'x'.repeat(200)}` }),
      );
      await victim.connect({ syncOnConnect: false });
      const seen = new Set<string>();
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const ack = (await victim.rawRequest(
          'dm:sync',
          cursor === undefined ? { limit: 100 } : { afterCursor: cursor, limit: 100 },
        )) as any;
        expect(ack.ok).toBe(true);
        expect(Buffer.byteLength(JSON.stringify(ack))).toBeLessThan(ONE_MB);
        // The cursor no longer holds an entry per conversation (it was 65,618 bytes at 1,300 senders).
        expect(ack.data.cursor.length).toBeLessThan(64);
        for (const m of ack.data.messages) {
          expect(seen.has(m.id)).toBe(false);
          seen.add(m.id);
        }
        cursor = ack.data.cursor;
        pages++;
        if (!ack.data.hasMore) break;
      }
      expect(seen.size).toBe(1200);
      expect(pages).toBeGreaterThanOrEqual(12);
      // Nothing new: an empty page, the same position.
      const after = (await victim.rawRequest('dm:sync', { afterCursor: cursor })) as any;
      expect(after.data).toEqual({ messages: [], cursor, hasMore: false });
      expect(victim.connected).toBe(true);
    }, 180_000);

    it("inbox positions stay gapless per user and follow each conversation's seqs under concurrent sends and call entries", async () => {
      const auth = one.get(AuthService);
      const dms = one.get(DirectMessagesService);
      const run = crypto.randomBytes(3).toString('hex');
      const ids = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await auth.issueFor(`inb_${run}_${i}`)).user.id));
      // Every ordered pair, several times, all at once: batches mixing senders and recipients, through both append paths.
      const sends = ids.flatMap((from) => ids.filter((to) => to !== from).flatMap((to) => [0, 1, 2].map((k) => ({ from, to, k }))));
      await Promise.all([
        ...sends.map(({ from, to, k }) => dms.send(from, { to, clientMsgId: crypto.randomUUID(), body: `m${k}` })),
        ...ids.slice(1).map((to) => dms.appendCallEntry({ callId: crypto.randomUUID(), callerId: ids[0], calleeId: to, body: 'call' })),
      ]);
      const pool = one.get(DatabasePool);
      const gaps = await pool.query<{ user_id: string }>(
        `SELECT u.id AS user_id FROM users u
          WHERE u.id = ANY($1::uuid[])
            AND (SELECT array_agg(p ORDER BY p) FROM (
                   SELECT sender_inbox_seq AS p FROM messages WHERE sender_id = u.id
                   UNION ALL SELECT recipient_inbox_seq FROM messages WHERE recipient_id = u.id) x)
                IS DISTINCT FROM (SELECT array_agg(g) FROM generate_series(1, u.inbox_seq) g)`,
        [ids],
      );
      expect(gaps).toEqual([]);
      const disorder = await pool.query(
        `SELECT a.id FROM messages a JOIN messages b ON b.conversation_id = a.conversation_id AND b.seq = a.seq + 1
          WHERE a.sender_id = ANY($1::uuid[])
            AND ((a.sender_id = b.sender_id AND a.sender_inbox_seq >= b.sender_inbox_seq)
              OR (a.sender_id = b.recipient_id AND a.sender_inbox_seq >= b.recipient_inbox_seq)
              OR (a.recipient_id = b.recipient_id AND a.recipient_inbox_seq >= b.recipient_inbox_seq)
              OR (a.recipient_id = b.sender_id AND a.recipient_inbox_seq >= b.sender_inbox_seq))`,
        [ids],
      );
      expect(disorder).toEqual([]);
      const [{ total }] = await pool.query<{ total: number }>(`SELECT sum(inbox_seq)::int AS total FROM users WHERE id = ANY($1::uuid[])`, [
        ids,
      ]);
      expect(total).toBe(2 * (sends.length + ids.length - 1));
    }, 60_000);

    it('the previous cursor format keeps working: the unseen messages, then a cursor of the new format', async () => {
      const [victim, a, b, c] = await Promise.all([user(one, 'oldcur'), user(one, 'oa'), user(one, 'ob'), user(one, 'oc')]);
      const sent: Record<string, any[]> = {};
      for (const s of [a, b, c]) {
        sent[s.id] = [];
        for (const text of ['first', 'second']) sent[s.id].push(await s.messages.send(victim.id, text));
      }
      // As a client of the previous version holds it: a's first seen, b's both, c's none.
      const old = encodePreviousSyncCursor({
        [sent[a.id][0].conversationId]: 1,
        [sent[b.id][0].conversationId]: 2,
      });
      const ack = (await victim.rawRequest('dm:sync', { afterCursor: old })) as any;
      expect(ack.ok).toBe(true);
      expect(ack.data.messages.map((m: any) => m.id).sort()).toEqual([sent[a.id][1].id, sent[c.id][0].id, sent[c.id][1].id].sort());
      expect(ack.data.cursor.length).toBeLessThan(64);
      const next = await b.messages.send(victim.id, 'third');
      const more = (await victim.rawRequest('dm:sync', { afterCursor: ack.data.cursor })) as any;
      expect(more.data.messages.map((m: any) => m.id)).toEqual([next.id]);
    });

    it('an unknown event with a 60 KB name is answered with the name cut short, and writes a bounded log line', async () => {
      const gw = await spawnGateway(one.db.url, {});
      try {
        const alice = await SocialClient.login(gw.url, uniqueHandle('longname'));
        const socket = rawSocket(gw.url, alice.token);
        sockets.push(socket);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const name = `x${'y'.repeat(60_000)}`;
        const ack = await emitWithAck(socket, name, {});
        expect(ack.ok).toBe(false);
        expect(ack.error.code).toBe('VALIDATION_FAILED');
        expect(Buffer.byteLength(JSON.stringify(ack))).toBeLessThan(1024);
        const line = await waitForValue(async () => gw.logs.find((l) => l.includes('"socket event"') && l.includes('xyyyy')));
        expect(Buffer.byteLength(line)).toBeLessThan(2048);
        socket.close();
      } finally {
        await gw.stop();
      }
    }, 90_000);

    it('unknown events take a place under the in-flight cap: a burst of them gets RATE_LIMITED with maxInFlight', async () => {
      const gw = await startTestGateway({ db: one.db, env: { REDIS_URL, SOCKET_MAX_IN_FLIGHT: '2', EVENT_RATE_SCALE: '1000' } });
      try {
        const alice = await SocialClient.login(gw.url, uniqueHandle('unkcap'));
        const socket = rawSocket(gw.url, alice.token);
        sockets.push(socket);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const acks = await Promise.all(Array.from({ length: 40 }, (_, i) => emitWithAck(socket, `nope:${i}`, {})));
        const limited = acks.filter((a) => a.error?.code === 'RATE_LIMITED');
        expect(limited.length).toBeGreaterThan(0);
        for (const a of limited) expect(a.error.details).toMatchObject({ maxInFlight: 2, retryAfterMs: expect.any(Number) });
        expect(acks.every((a) => ['RATE_LIMITED', 'VALIDATION_FAILED'].includes(a.error?.code))).toBe(true);
        socket.close();
      } finally {
        await gw.close();
      }
    });
  });

  describe('bad numbers are VALIDATION_FAILED, never INTERNAL', () => {
    it('dm:read { upToSeq: 3e9 }, dm:history { beforeSeq: 3e9 }, ?beforeSeq=3000000000 and hand-made sync cursors', async () => {
      const [a, b] = await Promise.all([user(one, 'seqa'), user(one, 'seqb')]);
      const message = await a.messages.send(b.id, 'hi');
      const conversationId = message.conversationId;
      for (const [event, payload] of [
        ['dm:read', { conversationId, upToSeq: 3e9 }],
        ['dm:read', { conversationId, upToSeq: 2 ** 31 }],
        ['dm:history', { conversationId, beforeSeq: 3e9 }],
        ['dm:history', { conversationId, beforeSeq: 2 ** 53 }],
      ] as const) {
        const ack = (await a.rawRequest(event, payload)) as any;
        expect({ event, payload, code: ack.error?.code }).toEqual({ event, payload, code: 'VALIDATION_FAILED' });
      }
      for (const beforeSeq of ['3000000000', '2147483648', '1e10', '99999999999999999999']) {
        const res = await request(one.url, 'GET', `/conversations/${conversationId}/messages?beforeSeq=${beforeSeq}`, { token: a.token });
        expect({ beforeSeq, status: res.status, code: res.body?.error?.code }).toEqual({
          beforeSeq,
          status: 400,
          code: 'VALIDATION_FAILED',
        });
      }
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      for (const afterCursor of [
        b64({ v: 1, s: { [conversationId]: 3e9 } }),
        b64({ v: 1, s: { [conversationId]: 2 ** 53 - 1 } }),
        b64({ v: 2, p: 3e9 }),
        b64({ v: 2, p: 1e308 }),
      ]) {
        const ack = (await a.rawRequest('dm:sync', { afterCursor })) as any;
        expect(ack.error?.code).toBe('VALIDATION_FAILED');
      }
      expect((await a.rawRequest('dm:read', { conversationId, upToSeq: 2 ** 31 - 1 })) as any).toMatchObject({ ok: true });
    });
  });

  describe('deceptive names', () => {
    it('bidirectional overrides and zero-width characters are refused in display names and handles', async () => {
      for (const displayName of ['evil\u202egnp.exe', 'a\u200bdmin', 'x\u2066y\u2069', '\ufeffsupport']) {
        const res = await request(one.url, 'POST', '/auth/dev-login', { body: { handle: uniqueHandle('bidi'), displayName } });
        expect({ displayName, status: res.status, code: res.body?.error?.code }).toEqual({
          displayName,
          status: 400,
          code: 'VALIDATION_FAILED',
        });
      }
      const handle = await request(one.url, 'POST', '/auth/dev-login', { body: { handle: 'ad\u200bmin' } });
      expect(handle.status).toBe(400);
      expect(
        (await request(one.url, 'POST', '/auth/dev-login', { body: { handle: uniqueHandle('ok'), displayName: 'Zoë ✓' } })).status,
      ).toBe(200);
    });
  });

  describe('HTTP rate limits', () => {
    it('100 PUT/DELETE /contacts/:id pairs: refused past the limit with 429, Retry-After and retryAfterMs; the victim hears only what was accepted', async () => {
      const [attacker, victim] = await Promise.all([user(one, 'flood'), user(one, 'victim')]);
      // Spent: the logins and the connects went through other routes, per address (exempt here).
      const pushes: unknown[] = [];
      victim.on('contacts:changed', (p) => pushes.push(p));
      const started = Date.now();
      const answers: HttpAnswer[] = [];
      for (let i = 0; i < 100; i++) {
        answers.push(await request(one.url, 'PUT', `/contacts/${victim.id}`, { token: attacker.token, body: {} }));
        answers.push(await request(one.url, 'DELETE', `/contacts/${victim.id}`, { token: attacker.token }));
      }
      const elapsedS = (Date.now() - started) / 1000;
      const accepted = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.status).toBe(429);
        expect(r.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: expect.any(Number) } });
        expect(r.body.error.details.retryAfterMs).toBeGreaterThan(0);
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      expect(accepted.length).toBeLessThanOrEqual(mostAccepted(HTTP_USER, elapsedS));
      // Only accepted changes reach the victim (before the limits: all 200 did).
      await pushFence(attacker, [victim]);
      expect(pushes.length).toBeLessThanOrEqual(accepted.length);
      expect(pushes.length).toBeLessThan(200);
    }, 120_000);

    it('the per-user limit holds across two processes through Redis', async () => {
      const handle = uniqueHandle('xhttp');
      const onOne = await SocialClient.login(one.url, handle);
      const started = Date.now();
      const answers: HttpAnswer[] = [];
      for (let i = 0; i < 60; i++) answers.push(await request(i % 2 ? two.url : one.url, 'GET', '/users/me', { token: onOne.token }));
      const elapsedS = (Date.now() - started) / 1000;
      const accepted = answers.filter((a) => a.status === 200).length;
      // Counted once for both: each process counting alone would let about twice this through.
      expect(accepted).toBeLessThanOrEqual(mostAccepted(HTTP_USER, elapsedS));
      expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status === 429 && a.headers['retry-after'] === undefined)).toEqual([]);
    });

    it('routes without a user token are limited per client address; an exempt address is not', async () => {
      const from = (localAddress: string) =>
        Promise.all(
          Array.from({ length: 30 }, () =>
            request(one.url, 'POST', '/auth/dev-login', { body: { handle: uniqueHandle('addr') }, localAddress }),
          ),
        );
      const elsewhere = await from('127.0.0.2');
      expect(elsewhere.filter((a) => a.status === 429).length).toBeGreaterThan(0);
      expect(elsewhere.find((a) => a.status === 429)?.body.error.code).toBe('RATE_LIMITED');
      const exempt = await from('127.0.0.1');
      expect(exempt.map((a) => a.status)).toEqual(exempt.map(() => 200));
    });
  });

  describe('revocation cannot be raced', () => {
    /** Resolves with each socket's end: refused at the handshake, or disconnected; 'connected' if still connected after 10 s. */
    function outcomes(racing: Socket[]): Promise<string[]> {
      const settled = racing.map(
        (s) =>
          new Promise<string>((resolve) => {
            s.once('connect_error', (err) => resolve(`refused ${err.message}`));
            s.once('disconnect', () => resolve('disconnected'));
          }),
      );
      return Promise.race([
        Promise.all(settled),
        new Promise<string[]>((resolve) => setTimeout(() => resolve(racing.map((s) => (s.connected ? 'connected' : 'pending'))), 10_000)),
      ]);
    }

    it('six handshakes checked just before a revoke, on two processes, that join their rooms after its broadcast: none stays connected', async () => {
      const victim = await SocialClient.login(one.url, uniqueHandle('race'));
      // Each handshake is held between its token check and its connection until the revocation is done:
      // the widest the race can get (a slow handshake), made certain.
      let checked = 0;
      let openGate!: () => void;
      const gate = new Promise<void>((r) => (openGate = r));
      const restore = [one, two].map((gw) => {
        const auth = gw.get(AuthService);
        const original = auth.authenticate;
        auth.authenticate = async (token) => {
          const user = await original.call(auth, token);
          checked++;
          await gate;
          return user;
        };
        return () => (auth.authenticate = original);
      });
      try {
        const racing = Array.from({ length: 6 }, (_, i) => rawSocket(i % 2 ? two.url : one.url, victim.token));
        sockets.push(...racing);
        const ends = outcomes(racing);
        await waitForValue(async () => (checked === 6 ? true : undefined));
        await new AdminClient(one.url, TEST_ADMIN_TOKEN).revokeTokens(victim.id);
        openGate();
        expect((await ends).filter((o) => o !== 'disconnected')).toEqual([]);
      } finally {
        for (const r of restore) r();
      }
      const fresh = await (await SocialClient.login(one.url, victim.user.handle)).connect({ syncOnConnect: false });
      clients.push(fresh);
      expect(fresh.connected).toBe(true);
    });

    it('every process checks its sockets again when a revocation is announced, even where the disconnect broadcast did not reach', async () => {
      const victim = await SocialClient.login(one.url, uniqueHandle('announce'));
      const connected = await Promise.all(
        [one, two, two].map(async (gw) => {
          const s = rawSocket(gw.url, victim.token);
          sockets.push(s);
          await new Promise<void>((r) => s.once('connect', () => r()));
          return s;
        }),
      );
      // The broadcast that closes a user's sockets is lost: only the announcement is left to close them.
      const realtime = one.get(RealtimeService);
      const disconnectUser = realtime.disconnectUser;
      realtime.disconnectUser = async () => undefined;
      try {
        const ends = outcomes(connected);
        await new AdminClient(one.url, TEST_ADMIN_TOKEN).revokeTokens(victim.id);
        expect(await ends).toEqual(['disconnected', 'disconnected', 'disconnected']);
      } finally {
        realtime.disconnectUser = disconnectUser;
      }
    });

    it('a revoke racing six handshakes at full speed, five times over, leaves none connected', async () => {
      const admin = new AdminClient(one.url, TEST_ADMIN_TOKEN);
      for (let round = 0; round < 5; round++) {
        const victim = await SocialClient.login(one.url, uniqueHandle('race'));
        const racing = Array.from({ length: 6 }, (_, i) => rawSocket(i % 2 ? two.url : one.url, victim.token));
        sockets.push(...racing);
        const ends = outcomes(racing);
        await admin.revokeTokens(victim.id);
        expect((await ends).filter((o) => o === 'connected' || o === 'pending')).toEqual([]);
        expect(racing.filter((s) => s.connected)).toEqual([]);
      }
    }, 120_000);
  });

  describe('safe defaults', () => {
    it('listens on 127.0.0.1 by default: the port is not reachable on another address', async () => {
      const address = one.app.getHttpServer().address();
      expect(address).toMatchObject({ address: '127.0.0.1' });
      const other = new URL(one.url);
      other.hostname = '127.0.0.2';
      await expect(request(other.toString(), 'GET', '/health/live')).rejects.toThrow(/ECONNREFUSED/);
    });

    it('listening beyond loopback turns dev-login and plain RTP off unless set explicitly', async () => {
      const open = await startTestGateway({ db: one.db, env: { HOST: '0.0.0.0' } });
      try {
        expect(open.config.media.plainRtp).toBe(false);
        const res = await request(open.url, 'POST', '/auth/dev-login', { body: { handle: uniqueHandle('open') } });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      } finally {
        await open.close();
      }
      const asked = await startTestGateway({ db: one.db, env: { HOST: '0.0.0.0', AUTH_DEV_LOGIN: 'true' } });
      try {
        expect((await request(asked.url, 'POST', '/auth/dev-login', { body: { handle: uniqueHandle('asked') } })).status).toBe(200);
      } finally {
        await asked.close();
      }
    });

    it('REDIS_URL without JWT_SECRET stops the start with a clear configuration error', async () => {
      await expect(spawnGateway(one.db.url, { REDIS_URL, JWT_SECRET: '' })).rejects.toThrow(
        /exited with 2[\s\S]*JWT_SECRET=\(unset\): expected a secret shared by every process when REDIS_URL is set/,
      );
    }, 60_000);

    it('CORS: no origin is reflected by default; CORS_ORIGINS allows exactly its origins', async () => {
      const evil = { origin: 'http://evil.example' };
      for (const [method, headers] of [
        ['GET', evil],
        ['OPTIONS', { ...evil, 'access-control-request-method': 'PUT' }],
      ] as const) {
        const res = await request(one.url, method, '/health/live', { headers });
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      }
      const listed = await startTestGateway({ db: one.db, env: { CORS_ORIGINS: 'http://app.example' } });
      try {
        const ok = await request(listed.url, 'GET', '/health/live', { headers: { origin: 'http://app.example' } });
        expect(ok.headers['access-control-allow-origin']).toBe('http://app.example');
        const no = await request(listed.url, 'GET', '/health/live', { headers: evil });
        expect(no.headers['access-control-allow-origin']).toBeUndefined();
      } finally {
        await listed.close();
      }
    });

    it('METRICS_TOKEN: /metrics needs the bearer', async () => {
      expect((await request(one.url, 'GET', '/metrics')).status).toBe(401);
      expect((await request(one.url, 'GET', '/metrics', { token: 'not-the-token' })).status).toBe(403);
      const res = await request(one.url, 'GET', '/metrics', { token: 'metrics-token-0123' });
      expect(res.status).toBe(200);
      expect(String(res.body)).toContain('# HELP');
    });

    it('tokens carry iss and aud, and one signed with the right secret but without them is refused', async () => {
      const alice = await user(one, 'audience', false);
      const payload = JSON.parse(Buffer.from(alice.token.split('.')[1], 'base64url').toString());
      expect(payload).toMatchObject({ iss: expect.any(String), aud: expect.any(String), sub: alice.id });
      const exp = Math.floor(Date.now() / 1000) + 60;
      const { iss, aud } = payload;
      for (const claims of [
        { sub: alice.id, exp },
        { sub: alice.id, exp, iss },
        { sub: alice.id, exp, aud },
        { sub: alice.id, exp, iss, aud: 'other' },
      ]) {
        const res = await request(one.url, 'GET', '/users/me', { token: signed(claims) });
        expect(res.status).toBe(401);
      }
      expect((await request(one.url, 'GET', '/users/me', { token: signed({ sub: alice.id, exp, iss, aud }) })).status).toBe(200);
    });

    it('named admin tokens (ADMIN_TOKENS) are admins; ADMIN_TOKEN still is', async () => {
      const target = await user(one, 'named', false);
      for (const token of ['alice-admin-token-1', TEST_ADMIN_TOKEN]) {
        expect((await request(one.url, 'POST', `/admin/users/${target.id}/revoke-tokens`, { token })).status).toBe(200);
      }
      expect((await request(one.url, 'POST', `/admin/users/${target.id}/revoke-tokens`, { token: 'alice-admin-token-2' })).status).toBe(
        403,
      );
    });

    it('the pool cancels a statement past DATABASE_STATEMENT_TIMEOUT_MS and a wait for a connection past DATABASE_ACQUIRE_TIMEOUT_MS', async () => {
      const gw = await startTestGateway({
        db: one.db,
        env: { DATABASE_STATEMENT_TIMEOUT_MS: '300', DATABASE_ACQUIRE_TIMEOUT_MS: '300', DATABASE_POOL_SIZE: '2' },
      });
      try {
        const pool = gw.get(DatabasePool);
        await expect(pool.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' });
        // Both connections held: a third query waits no longer than the acquire timeout.
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const holders = [0, 1].map(() => pool.withClient(() => held));
        await waitForValue(async () => (pool.connections().idle === 0 && pool.connections().total === 2 ? true : undefined));
        await expect(pool.query('SELECT 1')).rejects.toThrow(/timeout/i);
        release();
        await Promise.all(holders);
        expect(await pool.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      } finally {
        await gw.close();
      }
    });
  });
});
