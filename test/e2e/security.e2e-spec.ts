import crypto from 'node:crypto';
import { Client } from 'pg';
import { io, Socket } from 'socket.io-client';
import { AdminClient, befriend, SocialClient } from '@app/client';
import type { CallDto } from '@app/contracts';
import { startTestGateway, TEST_ADMIN_TOKEN, testEnv, TestGateway, uniqueHandle, refusalCode, sleep } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = testEnv('postgresql://x@h/d').JWT_SECRET;
const PROD_SECRET = 'p'.repeat(40);
const PROD_ADMIN = 'a'.repeat(40);
const API_KEY = 'k'.repeat(48);

interface Outcome {
  socket: Socket;
  /** The handshake's refusal message, when refused. */
  refused?: string;
  data?: unknown;
}

/** A bare socket.io connection: resolves connected, or with the handshake's refusal message. */
function rawConnect(url: string, token: string | undefined): Promise<Outcome> {
  const socket = io(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      resolve({ socket, refused: err.message, data: err.data });
    });
  });
}

/** An HS256 token of `claims` signed with `secret`, assembled by hand. */
function signed(claims: Record<string, unknown>, secret: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const OUR_CLAIMS = { iss: 'social-messaging-gateway', aud: 'social-messaging-clients' };

/** A token the gateway would have signed, with a chosen lifetime (seconds; negative: already expired). */
function tokenFor(userId: string, lifetimeS: number): { token: string; expiresAt: string } {
  const nowS = Math.floor(Date.now() / 1000);
  const token = signed({ sub: userId, ...OUR_CLAIMS, iat: nowS, iat_ms: Date.now(), exp: nowS + lifetimeS }, JWT_SECRET);
  return { token, expiresAt: new Date((nowS + lifetimeS) * 1000).toISOString() };
}

const once = <T>(socket: Socket, event: string) => new Promise<T>((resolve) => socket.once(event, resolve));
const ackBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

async function http(url: string, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, bytes: Buffer.byteLength(text) };
}

/**
 * Each attack of issue 13 that the gateway's auth, limits, paging, blocks and
 * ids answer, replayed against real gateways (PostgreSQL, Redis, mediasoup)
 * and shown refused with the protocol's error.
 */
describe('security: attacks are refused', () => {
  // Two processes' worth of gateways on one database and one Redis; dev-login on (the test default).
  let one: TestGateway;
  let two: TestGateway;
  // A production gateway: dev-login off by default, tokens only through the API key.
  let prod: TestGateway;
  const sockets: Socket[] = [];
  const clients: SocialClient[] = [];

  beforeAll(async () => {
    const env = { REDIS_URL, DM_RATE_PER_SEC: '1000', DM_RATE_BURST: '1000' };
    one = await startTestGateway({ env });
    [two, prod] = await Promise.all([
      startTestGateway({ env, db: one.db }),
      startTestGateway({
        env: {
          NODE_ENV: 'production',
          JWT_SECRET: PROD_SECRET,
          ADMIN_TOKEN: PROD_ADMIN,
          AUTH_API_KEY: API_KEY,
          SOCKET_MAX_IN_FLIGHT: '4',
          EVENT_RATE_SCALE: '100',
        },
      }),
    ]);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of clients) c.disconnect();
    await Promise.all([two?.close(), prod?.close()]);
    await one?.close();
  });

  async function user(gw: { url: string }, prefix = 'sec'): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, uniqueHandle(prefix))).connect();
    clients.push(c);
    return c;
  }

  async function connectAs(url: string, token: string): Promise<Socket> {
    const outcome = await rawConnect(url, token);
    sockets.push(outcome.socket);
    if (outcome.refused) throw new Error(`refused: ${outcome.refused}`);
    return outcome.socket;
  }

  describe('authentication', () => {
    it('with dev-login off (the production default) nobody can log in as an existing user by handle', async () => {
      const issued = await http(prod.url, 'POST', '/auth/tokens', { token: API_KEY, body: { handle: 'alice' } });
      expect(issued.status).toBe(200);
      const attempt = await http(prod.url, 'POST', '/auth/dev-login', { body: { handle: 'alice' } });
      expect(attempt.status).toBe(404);
      expect(attempt.body.error.code).toBe('NOT_FOUND');
      expect(JSON.stringify(attempt.body)).not.toContain(issued.body.user.id);
    });

    it('POST /auth/tokens: a wrong or missing API key gets 401; the right one a token with expiresAt; off without a key', async () => {
      for (const token of [undefined, 'k'.repeat(47) + 'x', 'k'.repeat(47), `${API_KEY}k`, PROD_ADMIN]) {
        const res = await http(prod.url, 'POST', '/auth/tokens', { token, body: { handle: 'mallory' } });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
      }
      const res = await http(prod.url, 'POST', '/auth/tokens', { token: API_KEY, body: { handle: uniqueHandle('op') } });
      expect(res.status).toBe(200);
      expect(new Date(res.body.expiresAt).getTime() - Date.now()).toBeGreaterThan(3_500_000);
      expect((await http(prod.url, 'GET', '/users/me', { token: res.body.token })).body.id).toBe(res.body.user.id);

      // The operator's backend is the SDK's token source.
      const handle = uniqueHandle('app');
      const client = await SocialClient.withTokens(
        prod.url,
        async () => (await http(prod.url, 'POST', '/auth/tokens', { token: API_KEY, body: { handle } })).body,
      );
      clients.push(client);
      await client.connect();
      expect((await client.users.me()).handle).toBe(handle);

      const off = await http(one.url, 'POST', '/auth/tokens', { token: API_KEY, body: { handle: 'x_y_z' } });
      expect(off.status).toBe(404);
    });

    it('a revoked token is refused on HTTP and at the handshake, and the user is disconnected on every process', async () => {
      const victim = await SocialClient.login(one.url, uniqueHandle('rev'));
      const onOne = await connectAs(one.url, victim.token);
      const onTwo = await connectAs(two.url, victim.token);
      const closed = [once<string>(onOne, 'disconnect'), once<string>(onTwo, 'disconnect')];

      // Nobody but the admin may revoke.
      expect((await http(one.url, 'POST', `/admin/users/${victim.id}/revoke-tokens`, { token: victim.token })).status).toBe(403);
      expect((await http(one.url, 'POST', `/admin/users/${crypto.randomUUID()}/revoke-tokens`, { token: TEST_ADMIN_TOKEN })).status).toBe(
        404,
      );
      await new AdminClient(one.url, TEST_ADMIN_TOKEN).revokeTokens(victim.id);

      expect(await Promise.all(closed)).toEqual(['io server disconnect', 'io server disconnect']);
      const me = await http(two.url, 'GET', '/users/me', { token: victim.token });
      expect(me.status).toBe(401);
      expect(me.body.error.code).toBe('UNAUTHENTICATED');
      for (const gw of [one, two]) expect((await rawConnect(gw.url, victim.token)).refused).toBe('UNAUTHENTICATED');

      // A token issued after the revocation works.
      const again = await SocialClient.login(two.url, victim.user.handle);
      expect(again.id).toBe(victim.id);
      await connectAs(one.url, again.token);
    });

    it('handshakes and requests arriving together are each checked against their own user', async () => {
      const users = await Promise.all([1, 2, 3, 4, 5].map(() => SocialClient.login(one.url, uniqueHandle('burst'))));
      const revoked = await SocialClient.login(one.url, uniqueHandle('burst'));
      await new AdminClient(one.url, TEST_ADMIN_TOKEN).revokeTokens(revoked.id);
      const good = [...users.map((u) => u.token), ...users.map((u) => u.token), tokenFor(users[0].id.toUpperCase(), 60).token];
      const bad = [
        tokenFor(crypto.randomUUID(), 60).token,
        tokenFor('not-a-user-id', 60).token,
        revoked.token,
        signed({ sub: users[1].id, ...OUR_CLAIMS, exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-0123456789'),
      ];
      // All at once, good and bad interleaved, so they are looked up together.
      const outcomes = await Promise.all([...good, ...bad].map((token) => rawConnect(one.url, token)));
      for (const o of outcomes) sockets.push(o.socket);
      expect(outcomes.map((o) => o.refused)).toEqual([...good.map(() => undefined), ...bad.map(() => 'UNAUTHENTICATED')]);

      const mes = await Promise.all([...good, ...bad].map((token) => http(one.url, 'GET', '/users/me', { token })));
      expect(mes.map((m) => m.status)).toEqual([...good.map(() => 200), ...bad.map(() => 401)]);
      expect(mes.slice(0, good.length).map((m) => m.body.id)).toEqual([...users.map((u) => u.id), ...users.map((u) => u.id), users[0].id]);
    });

    it('a socket whose token expires gets auth:expired and is closed; auth:refresh keeps one alive, for its own user only', async () => {
      const [alice, bob] = await Promise.all([user(one, 'exp'), user(one, 'expb')]);
      expect((await rawConnect(one.url, tokenFor(alice.id, -5).token)).refused).toBe('UNAUTHENTICATED');

      // Long enough for the refreshes below to land first on a loaded machine.
      const short = tokenFor(alice.id, 4).token;
      const refreshed = await connectAs(one.url, short);
      const left = await connectAs(one.url, short);
      const expired = once<unknown>(left, 'auth:expired');
      const leftClosed = once<string>(left, 'disconnect');

      const ask = (s: Socket, token: string) => s.timeout(5000).emitWithAck('auth:refresh', { token });
      expect(await ask(refreshed, bob.token)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      expect(await ask(refreshed, 'not-a-token')).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
      const ok = await ask(refreshed, alice.token);
      expect(ok).toMatchObject({ ok: true, data: { expiresAt: expect.any(String) } });
      expect(new Date(ok.data.expiresAt).getTime()).toBeGreaterThan(Date.now() + 60_000);

      expect(await expired).toEqual({});
      expect(await leftClosed).toBe('io server disconnect');
      // The refreshed socket outlived the token it connected with.
      expect(await refreshed.timeout(5000).emitWithAck('dm:typing', { to: bob.id })).toMatchObject({ ok: true });
    });

    it('the SDK renews its token before expiry and its socket outlives the first token', async () => {
      const base = await SocialClient.login(one.url, uniqueHandle('sdk'));
      // 5 s tokens: renewed at 4 s, a second before they run out.
      const client = await SocialClient.withTokens(one.url, async () => ({ ...tokenFor(base.id, 5), user: base.user }));
      clients.push(client);
      const expiries: unknown[] = [];
      client.on('auth:expired', (p) => expiries.push(p));
      await client.connect();
      const firstExpiry = Date.parse(client.expiresAt!);
      const renewals: string[] = [];
      await new Promise<void>((resolve) =>
        client.onLifecycle('token-refreshed', ({ expiresAt }) => {
          renewals.push(expiresAt!);
          if (Date.now() > firstExpiry + 200) resolve();
        }),
      );
      expect(renewals.length).toBeGreaterThanOrEqual(2);
      expect(expiries).toEqual([]);
      expect(client.connected).toBe(true);
      expect((await client.users.me()).id).toBe(base.id);
    }, 30_000);
  });

  describe('limits', () => {
    it('a burst of 300 dm:typing relays one; the rest get RATE_LIMITED with retryAfterMs', async () => {
      const [a, b] = await Promise.all([user(one, 'typ'), user(one, 'typb')]);
      const heard: unknown[] = [];
      b.on('dm:typing', (p) => heard.push(p));
      const acceptedAt: number[] = [];
      const acks = (await Promise.all(
        Array.from({ length: 300 }, async () => {
          const ack = (await a.rawRequest('dm:typing', { to: b.id })) as any;
          if (ack.ok) acceptedAt.push(performance.now());
          return ack;
        }),
      )) as any[];
      // One per second: a burst slowed past a second by a loaded machine may see a second one, a second later.
      expect(acceptedAt.length).toBeGreaterThanOrEqual(1);
      expect(acceptedAt.length).toBeLessThan(4);
      for (let i = 1; i < acceptedAt.length; i++) expect(acceptedAt[i] - acceptedAt[i - 1]).toBeGreaterThan(900);
      for (const x of acks.filter((y) => !y.ok)) {
        expect(x.error.code).toBe('RATE_LIMITED');
        expect(x.error.details.retryAfterMs).toBeGreaterThan(0);
      }
      // Everything relayed before this message reached b ahead of it.
      const marker = b.waitFor('dm:new', (p) => p.message.senderId === a.id);
      await a.messages.send(b.id, 'marker');
      await marker;
      expect(heard).toEqual(acceptedAt.map(() => ({ from: a.id })));
    });

    it('a flood of unknown event names is limited too, and each is still answered', async () => {
      const flooder = await user(one, 'unk');
      const acks = (await Promise.all(Array.from({ length: 60 }, (_, i) => flooder.rawRequest(`nope:${i}`, {})))) as any[];
      const codes = new Set(acks.map((a) => a.error?.code));
      expect([...codes].sort()).toEqual(['RATE_LIMITED', 'VALIDATION_FAILED']);
      // 20 a second: a burst on a loaded machine may span two windows.
      expect(acks.filter((a) => a.error.code === 'VALIDATION_FAILED').length).toBeLessThanOrEqual(40);
    });

    it('limits hold across processes through Redis', async () => {
      const handle = uniqueHandle('xrl');
      const onOne = await user(one, 'xrlp');
      const a1 = await (await SocialClient.login(one.url, handle)).connect();
      const a2 = await (await SocialClient.login(two.url, handle)).connect();
      clients.push(a1, a2);
      const { message } = await a1.request('dm:send', { to: onOne.id, clientMsgId: crypto.randomUUID(), body: 'x' });
      const burst = (c: SocialClient) =>
        Array.from({ length: 15 }, () => c.rawRequest('dm:history', { conversationId: message.conversationId, limit: 1 }));
      const acks = (await Promise.all([...burst(a1), ...burst(a2)])) as any[];
      const accepted = acks.filter((x) => x.ok).length;
      expect(accepted).toBeGreaterThanOrEqual(1);
      expect(accepted).toBeLessThanOrEqual(20);
      expect(acks.filter((x) => !x.ok).every((x) => x.error.code === 'RATE_LIMITED')).toBe(true);
    });

    it('the 11th socket of a user is refused at the handshake with TOO_MANY_CONNECTIONS, on one process and across two', async () => {
      const carol = await SocialClient.login(one.url, uniqueHandle('cap'));
      const burst = await Promise.all(Array.from({ length: 15 }, () => rawConnect(one.url, carol.token)));
      burst.forEach((o) => sockets.push(o.socket));
      expect(burst.filter((o) => !o.refused)).toHaveLength(10);
      for (const o of burst.filter((x) => x.refused)) {
        expect(o.refused).toBe('TOO_MANY_CONNECTIONS');
        expect(o.data).toMatchObject({ code: 'TOO_MANY_CONNECTIONS', max: 10 });
      }
      await expect(carol.connect({ reconnection: false })).rejects.toMatchObject({
        message: expect.stringContaining('TOO_MANY_CONNECTIONS'),
      });

      // Free them all, then fill the cap across the two processes.
      const gone = burst.filter((o) => !o.refused).map((o) => once(o.socket, 'disconnect'));
      burst.forEach((o) => o.socket.disconnect());
      await Promise.all(gone);
      const dave = await SocialClient.login(one.url, uniqueHandle('capx'));
      const held: Socket[] = [];
      for (let i = 0; i < 10; i++) held.push(await connectAs(i < 6 ? one.url : two.url, dave.token));
      expect((await rawConnect(two.url, dave.token)).refused).toBe('TOO_MANY_CONNECTIONS');
      expect((await rawConnect(one.url, dave.token)).refused).toBe('TOO_MANY_CONNECTIONS');
      // A freed place can be taken again.
      const freed = once(held[0], 'disconnect');
      held[0].disconnect();
      await freed;
      let outcome: Outcome | undefined;
      for (let attempt = 0; attempt < 20 && (!outcome || outcome.refused); attempt++) {
        if (outcome) await sleep(50);
        outcome = await rawConnect(two.url, dave.token);
        sockets.push(outcome.socket);
      }
      expect(outcome?.refused).toBeUndefined();
    });

    it('no ack or page is over 1 MB: dm:sync limit 1000 is refused, and full pages of 4,000-character messages stop short', async () => {
      const [sender, reader] = await Promise.all([user(one, 'big'), user(one, 'bigr')]);
      const body = '😀'.repeat(4000); // 4,000 characters, 16,000 bytes of UTF-8
      for (let i = 0; i < 10; i++) {
        await Promise.all(Array.from({ length: 10 }, () => sender.messages.send(reader.id, body)));
      }
      const refused = (await reader.rawRequest('dm:sync', { limit: 1000 })) as any;
      expect(refused).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
      expect(refused.error.details.fields[0].field).toBe('limit');

      const first = (await reader.rawRequest('dm:sync', { limit: 100 })) as any;
      expect(first.ok).toBe(true);
      expect(ackBytes(first)).toBeLessThanOrEqual(1_000_000);
      expect(first.data.messages.length).toBeGreaterThan(0);
      expect(first.data.messages.length).toBeLessThan(100);
      expect(first.data.hasMore).toBe(true);
      const ids = new Set<string>(first.data.messages.map((m: any) => m.id));
      let cursor = first.data.cursor;
      for (let page = 0; page < 5; page++) {
        const next = await reader.request('dm:sync', { afterCursor: cursor, limit: 100 });
        expect(ackBytes({ ok: true, data: next })).toBeLessThanOrEqual(1_000_000);
        next.messages.forEach((m) => ids.add(m.id));
        cursor = next.cursor;
        if (!next.hasMore) break;
      }
      expect(ids.size).toBe(100);

      const conversationId = first.data.messages[0].conversationId;
      const history = (await reader.rawRequest('dm:history', { conversationId, limit: 100 })) as any;
      expect(ackBytes(history)).toBeLessThanOrEqual(1_000_000);
      expect(history.data.messages.length).toBeLessThan(100);
      expect(history.data.nextBeforeSeq).toBe(history.data.messages[history.data.messages.length - 1].seq);
      const overHttp = await http(one.url, 'GET', `/conversations/${conversationId}/messages?limit=100`, { token: reader.token });
      expect(overHttp.status).toBe(200);
      expect(overHttp.bytes).toBeLessThanOrEqual(1_000_000);
    }, 60_000);

    it('requests in flight are capped per socket; every one is still answered', async () => {
      const issued = await http(prod.url, 'POST', '/auth/tokens', { token: API_KEY, body: { handle: uniqueHandle('fl') } });
      const socket = await connectAs(prod.url, issued.body.token);
      const acks = (await Promise.all(
        Array.from({ length: 40 }, () => socket.timeout(10_000).emitWithAck('dm:sync', { limit: 100 })),
      )) as any[];
      const refused = acks.filter((a) => !a.ok);
      expect(refused.length).toBeGreaterThan(0);
      for (const a of refused)
        expect(a.error).toMatchObject({ code: 'RATE_LIMITED', details: { maxInFlight: 4, retryAfterMs: expect.any(Number) } });
      expect(acks.filter((a) => a.ok).length).toBeGreaterThanOrEqual(4);
      expect(await socket.timeout(5000).emitWithAck('dm:sync', {})).toMatchObject({ ok: true });
    });
  });

  describe('ids and relationships', () => {
    it('an upper-case spelling of your own id is still yourself, and the database refuses a conversation with yourself', async () => {
      const [frank, other] = await Promise.all([user(one, 'self'), user(one, 'selfo')]);
      const upper = frank.id.toUpperCase();
      expect(await refusalCode(frank.messages.send(upper, 'me', { attempts: 1 }))).toBe('VALIDATION_FAILED');
      expect(await refusalCode(frank.contacts.add(upper))).toBe('VALIDATION_FAILED');
      expect(await refusalCode(frank.contacts.block(upper))).toBe('VALIDATION_FAILED');
      expect(await refusalCode(frank.calls.invite(upper))).toBe('VALIDATION_FAILED');
      expect(await refusalCode(frank.messages.typing(upper))).toBe('VALIDATION_FAILED');
      // Another user's id in upper case names that user.
      const sent = await frank.messages.send(other.id.toUpperCase(), 'hi');
      expect(sent.recipientId).toBe(other.id);

      const db = new Client({ connectionString: one.db.url });
      await db.connect();
      try {
        const err = await db
          .query('INSERT INTO conversations (id, user_low_id, user_high_id) VALUES (gen_random_uuid(), $1, $1)', [frank.id])
          .then(
            () => null,
            (e: { code?: string }) => e,
          );
        expect(err?.code).toBe('23514');
      } finally {
        await db.end();
      }
    });

    it('blocking ends an active call and a ringing one with endReason blocked, once', async () => {
      const [a, b] = await Promise.all([user(one, 'bla'), user(one, 'blb')]);
      await befriend(a, b);
      const incoming = b.calls.waitForIncoming(a.id);
      const call = await a.calls.invite(b.id);
      await incoming;
      const active = a.calls.waitForState(call.id, 'active');
      await b.calls.accept(call.id);
      await active;
      const endedForA = a.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'ended');
      const endedForB = b.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'ended');
      await b.contacts.block(a.id);
      for (const { call: ended } of await Promise.all([endedForA, endedForB])) {
        expect(ended).toMatchObject({ state: 'ended', endReason: 'blocked', endedById: b.id });
      }
      await b.contacts.block(a.id); // again: nothing more happens
      const history = await a.calls.history(5);
      expect(history.filter((c: CallDto) => c.id === call.id)).toEqual([expect.objectContaining({ endReason: 'blocked' })]);
      const conversation = (await a.messages.conversations()).find((c) => c.peer.id === b.id)!;
      const entries = (await a.messages.history(conversation.id)).messages.filter((m) => m.callId === call.id);
      expect(entries).toHaveLength(1);

      const [c, d] = await Promise.all([user(one, 'blc'), user(one, 'bld')]);
      await befriend(c, d);
      const ringing = d.calls.waitForIncoming(c.id);
      const ring = await c.calls.invite(d.id);
      await ringing;
      const ringEnded = c.waitFor('call:state', (p) => p.call.id === ring.id && p.call.state === 'ended');
      await d.contacts.block(c.id);
      expect((await ringEnded).call.endReason).toBe('blocked');
      // The two are free again (for others).
      expect(await refusalCode(c.calls.invite(d.id))).toBe('BLOCKED');
    });

    it('read receipts and typing never reach a user who blocked the sender', async () => {
      const [g, h] = await Promise.all([user(one, 'rrg'), user(one, 'rrh')]);
      const hOther = await (await SocialClient.login(one.url, h.user.handle)).connect();
      clients.push(hOther);
      const message = await g.messages.send(h.id, 'read me');
      await g.contacts.block(h.id);
      const receipts: unknown[] = [];
      g.on('dm:read', (p) => receipts.push(p));
      const ownDevice = hOther.waitFor('dm:read', (p) => p.conversationId === message.conversationId);
      await h.messages.markRead(message.conversationId, message.seq);
      expect((await ownDevice).readerId).toBe(h.id);
      // Pushes to g are written before the answer to g's next request.
      await g.messages.conversations();
      await g.request('dm:history', { conversationId: message.conversationId, limit: 1 });
      expect(receipts).toEqual([]);
      expect(await refusalCode(h.messages.typing(g.id))).toBe('BLOCKED');
    });
  });

  describe('paging', () => {
    it('every list pages with limit ≤ 100 and a cursor, and refuses cursors it did not hand out', async () => {
      const owner = await user(one, 'pg');
      const others = await Promise.all(Array.from({ length: 5 }, () => SocialClient.login(one.url, uniqueHandle('pgo'))));
      for (const o of others) await owner.contacts.add(o.id);
      for (const o of others.slice(0, 3)) await owner.messages.send(o.id, 'hello');
      for (const o of others.slice(0, 3)) await owner.contacts.block(o.id);

      async function all<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>) {
        const items: T[] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await fetchPage(cursor);
          expect(page.items.length).toBeLessThanOrEqual(2);
          items.push(...page.items);
          if (!page.nextCursor) return items;
          cursor = page.nextCursor;
        }
        throw new Error('paging did not end');
      }
      const contacts = await all((cursor) => owner.contacts.page({ limit: 2, cursor }));
      expect(new Set(contacts.map((c) => c.user.id))).toEqual(new Set(others.map((o) => o.id)));
      const blocks = await all((cursor) => owner.contacts.blocked({ limit: 2, cursor }));
      expect(blocks.map((b) => b.user.id)).toEqual(
        others
          .slice(0, 3)
          .map((o) => o.id)
          .reverse(),
      );
      const conversations = await all((cursor) => owner.messages.conversationsPage({ limit: 2, cursor }));
      expect(conversations).toHaveLength(3);

      for (const path of ['/contacts', '/blocks', '/conversations', '/calls']) {
        expect((await http(one.url, 'GET', `${path}?limit=101`, { token: owner.token })).status).toBe(400);
        const bad = await http(one.url, 'GET', `${path}?cursor=bm90LWEtY3Vyc29y`, { token: owner.token });
        expect(bad.status).toBe(400);
        expect(bad.body.error.code).toBe('VALIDATION_FAILED');
        const first = await http(one.url, 'GET', path, { token: owner.token });
        expect(first.status).toBe(200);
        expect(first.body).toHaveProperty('nextCursor');
      }
    });

    it('call history pages newest first without repeats', async () => {
      const [a, b] = await Promise.all([user(one, 'pca'), user(one, 'pcb')]);
      await befriend(a, b);
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        const call = await a.calls.invite(b.id);
        await a.calls.cancel(call.id);
        made.unshift(call.id);
      }
      const first = await a.calls.historyPage({ limit: 2 });
      const second = await a.calls.historyPage({ limit: 2, cursor: first.nextCursor! });
      expect([...first.items, ...second.items].map((c) => c.id)).toEqual(made);
      expect(second.nextCursor).toBeNull();
    });
  });
});
