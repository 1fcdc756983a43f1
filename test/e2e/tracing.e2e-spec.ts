import { SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle } from '@app/testing';

type LogLine = Record<string, unknown>;

/** The first JSON log line matching `match`, waiting for it up to a bound. */
async function logLine(gw: SpawnedGateway, match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const raw of gw.logs) {
      if (!raw.startsWith('{')) continue;
      const line = JSON.parse(raw) as LogLine;
      if (match(line)) return line;
    }
    if (Date.now() > deadline) throw new Error(`no such log line; logs:\n${gw.logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('access logs and request ids', () => {
  let db: TestDatabase;
  let gw: SpawnedGateway;
  let alice: SocialClient;
  beforeAll(async () => {
    db = await createTestDatabase();
    gw = await spawnGateway(db.url);
    alice = await (await SocialClient.login(gw.url, uniqueHandle('alice'))).connect();
  });
  afterAll(async () => {
    alice?.disconnect();
    await gw?.stop();
    await db?.drop();
  });

  it('honours and echoes x-request-id, and logs the request with route, user, outcome and duration', async () => {
    const res = await fetch(`${gw.url}/users/me`, {
      headers: { authorization: `Bearer ${alice.token}`, 'x-request-id': 'trace-0001.abc' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('trace-0001.abc');
    const line = await logLine(gw, (l) => l.requestId === 'trace-0001.abc' && l.kind === 'http');
    expect(line).toMatchObject({
      msg: 'http request',
      method: 'GET',
      route: '/users/me',
      status: 200,
      userId: alice.id,
      outcome: 'ok',
      durationMs: expect.any(Number),
    });
  });

  it('makes an id when none (or an unfit one) is given, and logs failures with their code', async () => {
    const res = await fetch(`${gw.url}/users/me`, { headers: { 'x-request-id': 'x'.repeat(300) } });
    expect(res.status).toBe(401);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const line = await logLine(gw, (l) => l.requestId === id);
    expect(line).toMatchObject({ kind: 'http', route: '/users/me', status: 401, outcome: 'UNAUTHENTICATED' });
    expect(line.userId).toBeUndefined();
  });

  it('logs every socket event once with its user, outcome and a request id of its own', async () => {
    const bob = await SocialClient.login(gw.url, uniqueHandle('bob'));
    await alice.messages.send(bob.id, 'hello');
    const sent = await logLine(gw, (l) => l.kind === 'socket' && l.event === 'dm:send' && l.userId === alice.id);
    expect(sent).toMatchObject({ msg: 'socket event', outcome: 'ok', durationMs: expect.any(Number), requestId: expect.any(String) });

    expect((await alice.rawRequest('dm:send', { to: 'nobody' })).ok).toBe(false);
    await logLine(gw, (l) => l.event === 'dm:send' && l.outcome === 'VALIDATION_FAILED' && l.userId === alice.id);

    await alice.rawRequest('no:such-event', {});
    await logLine(gw, (l) => l.event === 'no:such-event' && l.outcome === 'VALIDATION_FAILED');

    const okLines = gw.logs.filter((l) => l.includes('"event":"dm:send"') && l.includes('"outcome":"ok"'));
    expect(okLines).toHaveLength(1);
    const ids = gw.logs.filter((l) => l.includes('"kind":"socket"')).map((l) => JSON.parse(l).requestId);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
