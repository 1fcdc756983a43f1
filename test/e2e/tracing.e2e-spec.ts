import http from 'node:http';
import { AddressInfo } from 'node:net';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { befriend, SocialClient } from '@app/client';
import { SpanKind, startTracing, stopTracing } from '@app/observability';
import {
  createTestDatabase,
  spawnGateway,
  SpawnedGateway,
  startTestGateway,
  TestDatabase,
  TestGateway,
  uniqueHandle,
  sleep,
} from '@app/testing';

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
    await sleep(20);
  }
}

/**
 * An OTLP/HTTP collector on 127.0.0.1 that keeps what it receives: the
 * exporter posts JSON (resourceSpans → scopeSpans → spans) to /v1/traces.
 */
async function startCollector(): Promise<{ url: string; bodies: Record<string, any>[]; close(): Promise<void> }> {
  const bodies: Record<string, any>[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

/** Waits (bounded) until `read` returns something. */
async function eventually<T>(read: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('access logs and request ids', () => {
  let db: TestDatabase;
  let gw: SpawnedGateway;
  let alice: SocialClient;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    collector = await startCollector();
    // This process runs as an operator would: the default metric prefix, spans exported over OTLP.
    gw = await spawnGateway(db.url, {
      METRICS_PREFIX: 'smb_',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    alice = await (await SocialClient.login(gw.url, uniqueHandle('alice'))).connect();
  });
  afterAll(async () => {
    alice?.disconnect();
    await gw?.stop();
    await collector?.close();
    await db?.drop();
  });

  it('names the service and the role on every log line', async () => {
    const listening = await logLine(gw, (l) => l.msg === 'gateway listening');
    expect(listening).toMatchObject({ service: 'social-messaging-backend', role: 'all' });
    const lines = gw.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
    expect(lines.every((l) => l.service === 'social-messaging-backend' && l.role === 'all')).toBe(true);
  });

  it('exports every metric under the prefix, with sub-millisecond duration buckets', async () => {
    await fetch(`${gw.url}/health/live`);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(50);
    expect(lines.filter((l) => !/^(# (HELP|TYPE) )?smb_/.test(l))).toEqual([]);
    expect(text).toMatch(/^smb_http_request_duration_seconds_bucket\{le="0\.0001",/m);
    expect(text).toMatch(/^smb_process_cpu_user_seconds_total /m);
  });

  it('exports a span per HTTP request over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${gw.url}/users/me`, {
      headers: { authorization: `Bearer ${alice.token}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(200);
    const exported = await eventually(() => {
      for (const body of collector.bodies) {
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            const span = (ss.spans ?? []).find((s: any) => s.name === 'GET /users/me');
            if (span) return { span, resource: rs.resource };
          }
        }
      }
      return undefined;
    }, 'the span of GET /users/me at the collector');
    expect(exported.span.traceId).toBe(traceId);
    expect(exported.span.parentSpanId).toBe('00f067aa0ba902b7');
    const resource = Object.fromEntries(exported.resource.attributes.map((a: any) => [a.key, a.value.stringValue]));
    expect(resource).toMatchObject({ 'service.name': 'social-messaging-backend', 'process.role': 'all' });
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

describe('spans (in-memory exporter)', () => {
  let gw: TestGateway;
  let exporter: InMemorySpanExporter;
  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    startTracing({ exporter, exportEachSpan: true, role: 'gateway' });
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
    await stopTracing();
  });

  it("makes one server span per HTTP request, named by route, child of the caller's traceparent", async () => {
    const handle = uniqueHandle('trace');
    const client = await SocialClient.login(gw.url, handle);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await fetch(`${gw.url}/users/by-handle/${handle}`, {
      headers: { authorization: `Bearer ${client.token}`, traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    expect(res.status).toBe(200);
    const span = await eventually(
      () => exporter.getFinishedSpans().find((s) => s.name === 'GET /users/by-handle/:handle'),
      'the request span',
    );
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(span.attributes).toMatchObject({
      'http.route': '/users/by-handle/:handle',
      'http.response.status_code': 200,
      'http.request.method': 'GET',
    });
    expect(span.resource.attributes['process.role']).toBe('gateway');

    // Without a caller's context: a new trace. A failure's status code is on its span too.
    await fetch(`${gw.url}/users/me`);
    const refused = await eventually(() => exporter.getFinishedSpans().find((s) => s.name === 'GET /users/me'), 'the refused request span');
    expect(refused.parentSpanContext).toBeUndefined();
    expect(refused.attributes['http.response.status_code']).toBe(401);
  });
});

describe('a socket event traced across the media bus', () => {
  const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  let exporter: InMemorySpanExporter;
  let node: TestGateway;
  let gateway: TestGateway;
  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    startTracing({ exporter, exportEachSpan: true, role: 'all' });
    // Two processes' worth in one: a media node and a gateway-only process reaching it over Redis.
    node = await startTestGateway({ env: { REDIS_URL, NODE_ROLE: 'media' } });
    gateway = await startTestGateway({ db: node.db, env: { REDIS_URL, NODE_ROLE: 'gateway' } });
  });
  afterAll(async () => {
    await gateway?.close();
    await node?.close();
    await stopTracing();
  });

  it('puts the node’s span of a media request in the trace of the socket event that caused it', async () => {
    const alice = await (await SocialClient.login(gateway.url, uniqueHandle('alice'))).connect();
    const bob = await (await SocialClient.login(gateway.url, uniqueHandle('bob'))).connect();
    try {
      await befriend(alice, bob);
      const incoming = bob.waitFor('call:incoming', () => true, 10_000);
      const { call } = await alice.request('call:invite', { to: bob.id });
      await incoming;
      await bob.request('call:accept', { callId: call.id });
      await alice.request('media:capabilities', { callId: call.id });

      const socketSpan = await eventually(
        () => exporter.getFinishedSpans().find((s) => s.name === 'socket media:capabilities'),
        'the socket event span',
      );
      expect(socketSpan.kind).toBe(SpanKind.SERVER);
      expect(socketSpan.attributes).toMatchObject({ 'socket.io.event': 'media:capabilities', 'enduser.id': alice.id });
      const traceId = socketSpan.spanContext().traceId;
      const nodeSpan = await eventually(
        () => exporter.getFinishedSpans().find((s) => s.name === 'media capabilities' && s.spanContext().traceId === traceId),
        'the media node span in the same trace',
      );
      expect(nodeSpan.kind).toBe(SpanKind.SERVER);
      // The node's span hangs below the socket event's (directly or through the client-side spans between).
      const byId = new Map(exporter.getFinishedSpans().map((s) => [s.spanContext().spanId, s]));
      let parent = nodeSpan.parentSpanContext?.spanId;
      const chain: string[] = [];
      while (parent && parent !== socketSpan.spanContext().spanId && byId.has(parent)) {
        chain.push(byId.get(parent)!.name);
        parent = byId.get(parent)!.parentSpanContext?.spanId;
      }
      expect({ reached: parent, chain }).toEqual({ reached: socketSpan.spanContext().spanId, chain });
      await alice.request('call:hangup', { callId: call.id });
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  });
});
