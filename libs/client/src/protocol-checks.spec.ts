import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { ClientError } from './client-error';
import { SocialClient } from './social-client';

/**
 * What the server sends is checked against the protocol catalog before the
 * SDK hands it on typed: a malformed answer is refused with a ClientError
 * that says which event or route and what is wrong, and fields a newer
 * server adds reach the caller untouched. Against a bare socket.io server and
 * HTTP routes on loopback that answer whatever each test scripts.
 */
describe('answers checked against the protocol catalog', () => {
  let http: HttpServer;
  let io: Server;
  let baseUrl: string;
  /** The ack each client event gets (by event name). */
  let acks: Record<string, unknown>;
  /** The status and JSON body each `METHOD path` gets. */
  let routes: Record<string, { status: number; body: unknown }>;
  let client: SocialClient;

  const me = { id: randomUUID(), handle: 'ann', displayName: 'Ann' };

  function message(extra: Record<string, unknown> = {}) {
    return {
      id: randomUUID(),
      conversationId: randomUUID(),
      senderId: me.id,
      recipientId: randomUUID(),
      seq: 1,
      body: 'hi',
      clientMsgId: randomUUID(),
      createdAt: new Date().toISOString(),
      kind: 'text',
      ...extra,
    };
  }

  function answerHttp(req: IncomingMessage, res: ServerResponse): void {
    const scripted = routes[`${req.method} ${req.url}`] ?? {
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no such route' } },
    };
    res.writeHead(scripted.status, { 'content-type': 'application/json' });
    res.end(typeof scripted.body === 'string' ? scripted.body : JSON.stringify(scripted.body));
  }

  beforeEach(async () => {
    acks = {};
    routes = {};
    http = createServer(answerHttp);
    io = new Server(http);
    io.on('connection', (socket) => {
      socket.onAny((event: string, _payload: unknown, ack?: (answer: unknown) => void) => ack?.(acks[event]));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    client = new SocialClient(baseUrl, 'token', me);
  });
  afterEach(async () => {
    client.disconnect();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });

  async function refusal(promise: Promise<unknown>): Promise<ClientError> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(err)}`);
    return err;
  }

  describe('socket acknowledgements', () => {
    beforeEach(async () => {
      await client.connect({ syncOnConnect: false });
    });

    it('refuses a dm:send ack without its message, naming the event and the missing field', async () => {
      acks['dm:send'] = { ok: true, data: { duplicate: false } };
      const err = await refusal(client.request('dm:send', { to: randomUUID(), clientMsgId: randomUUID(), body: 'hi' }));
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toMatch(/^INTERNAL: dm:send: the server's answer does not match the protocol \(message: Required\)$/);
      expect(err.details).toEqual({ event: 'dm:send', issue: 'message: Required' });
    });

    it('refuses a dm:send ack whose message has a field of the wrong type', async () => {
      acks['dm:send'] = { ok: true, data: { message: message({ seq: 'one' }) } };
      const err = await refusal(client.messages.send(randomUUID(), 'hi'));
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toContain('dm:send');
      expect(err.details?.issue).toMatch(/^message\.seq: /);
    });

    it('hands on a dm:send ack with fields it does not know, untouched (nothing stripped)', async () => {
      const data = { message: message({ reactions: ['👍'] }), duplicate: false, traceId: 'abc' };
      acks['dm:send'] = { ok: true, data };
      const result = await client.request('dm:send', { to: randomUUID(), clientMsgId: randomUUID(), body: 'hi' });
      expect(result).toStrictEqual(data);
      expect(result).toHaveProperty('traceId', 'abc');
      expect(result.message).toHaveProperty('reactions', ['👍']);
    });

    it('accepts fields added to an empty result (dm:read answers {})', async () => {
      acks['dm:read'] = { ok: true, data: { readAt: '2030-01-01T00:00:00Z' } };
      await expect(client.request('dm:read', { conversationId: randomUUID(), upToSeq: 1 })).resolves.toStrictEqual({
        readAt: '2030-01-01T00:00:00Z',
      });
    });

    it('refuses an answer that is no ack at all, and one whose error is not the protocol’s', async () => {
      acks['dm:typing'] = { fine: true };
      const notAck = await refusal(client.rawRequest('dm:typing', { to: randomUUID() }));
      expect(notAck.code).toBe('INTERNAL');
      expect(notAck.message).toContain('dm:typing acknowledgement');
      acks['dm:typing'] = { ok: false, error: { code: 'OOPS', message: 'x' } };
      const badError = await refusal(client.request('dm:typing', { to: randomUUID() }));
      expect(badError.code).toBe('INTERNAL');
      expect(badError.details).toMatchObject({ event: 'dm:typing', issue: expect.stringMatching(/^error\.code: /) });
    });

    it('still turns a well-formed error ack into its ClientError', async () => {
      acks['dm:typing'] = { ok: false, error: { code: 'NOT_FRIENDS', message: 'not mutual', details: { extra: 1 } } };
      const err = await refusal(client.request('dm:typing', { to: randomUUID() }));
      expect(err.code).toBe('NOT_FRIENDS');
      expect(err.details).toEqual({ extra: 1 });
    });
  });

  describe('pushes', () => {
    it('keeps a malformed push from its listeners and reports it; a push with added fields arrives untouched', async () => {
      const typing: unknown[] = [];
      const errors: { error: unknown; during: string }[] = [];
      client.on('dm:typing', (payload) => typing.push(payload));
      client.onLifecycle('error', (e) => errors.push(e));
      await client.connect({ syncOnConnect: false });
      const [socket] = await io.fetchSockets();
      const good = { from: randomUUID(), conversationId: randomUUID() };
      socket.emit('dm:typing', { from: 'not-a-uuid' });
      socket.emit('dm:typing', good);
      await client.waitFor('dm:typing');
      expect(typing).toStrictEqual([good]);
      expect(errors).toHaveLength(1);
      expect(errors[0].during).toBe('dm:typing');
      expect(errors[0].error).toBeInstanceOf(ClientError);
      expect(errors[0].error).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/dm:typing push.*\(from: /) });
    });
  });

  describe('HTTP', () => {
    it('refuses a GET /users/me body that is not a user, naming the route and the field', async () => {
      routes['GET /users/me'] = { status: 200, body: { id: me.id, handle: 'ann' } };
      const err = await refusal(client.users.me());
      expect(err.code).toBe('INTERNAL');
      expect(err.status).toBe(200);
      expect(err.message).toBe("INTERNAL: GET /users/me: the server's answer does not match the protocol (displayName: Required)");
      expect(err.details).toEqual({ route: 'GET /users/me', issue: 'displayName: Required' });
    });

    it('refuses a body that is not JSON', async () => {
      routes['GET /flags'] = { status: 200, body: 'not json' };
      expect((await refusal(client.flags.get())).code).toBe('INTERNAL');
    });

    it('hands on a body with fields it does not know, untouched', async () => {
      const body = { ...me, avatarUrl: 'https://example.test/a.png' };
      routes['GET /users/me'] = { status: 200, body };
      await expect(client.users.me()).resolves.toStrictEqual(body);
      routes['DELETE /contacts/x'] = { status: 200, body: { removed: true } };
      await expect(client.http('DELETE', '/contacts/x')).resolves.toStrictEqual({ removed: true });
    });

    it('checks http() against the route the path belongs to', async () => {
      routes['GET /calls?limit=1'] = { status: 200, body: { calls: [{ id: 'nope' }], nextCursor: null } };
      const err = await refusal(client.http('GET', '/calls?limit=1'));
      expect(err.details).toMatchObject({ route: 'GET /calls', issue: expect.stringMatching(/^calls\.0\./) });
    });

    it('reads the error envelope of a failure, and says INTERNAL when the body is not one', async () => {
      routes['GET /users/by-handle/bob'] = { status: 404, body: { error: { code: 'NOT_FOUND', message: 'user not found' } } };
      const notFound = await refusal(client.users.byHandle('bob'));
      expect(notFound).toMatchObject({ code: 'NOT_FOUND', status: 404, message: 'NOT_FOUND: user not found' });
      routes['GET /users/by-handle/bob'] = { status: 502, body: { error: { code: 'GATEWAY_DOWN' } } };
      const odd = await refusal(client.users.byHandle('bob'));
      expect(odd).toMatchObject({ code: 'INTERNAL', status: 502 });
      expect(odd.message).toContain('HTTP 502');
    });

    it('refuses a dev-login answer without a token', async () => {
      routes['POST /auth/dev-login'] = { status: 200, body: { user: me, expiresAt: new Date().toISOString() } };
      const err = await refusal(SocialClient.login(baseUrl, 'ann'));
      expect(err.details).toEqual({ route: 'POST /auth/dev-login', issue: 'token: Required' });
    });
  });
});
