import fs from 'node:fs';
import path from 'node:path';
import { SocialClient } from '@app/client';
import { CONFIG_VARIABLES } from '@app/config';
import {
  CLIENT_EVENT_NAMES,
  CLIENT_EVENT_SPECS,
  ClientEventName,
  ClientEvents,
  ERROR_CODES,
  SERVER_EVENT_NAMES,
  SERVER_EVENT_SPECS,
  ServerEventName,
} from '@app/contracts';
import { connectedUser, startTestGateway, TestGateway, uniqueHandle } from '@app/testing';

/**
 * docs/protocol.md is the contract clients are written against. These checks
 * keep the page and the code saying the same thing where a machine can tell.
 */
const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'protocol.md'), 'utf8');

/** First-column code spans of the table rows under a heading, e.g. `dm:send`. */
function tableKeys(heading: RegExp, stopAt = /^## /m): string[] {
  const start = doc.search(heading);
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(start + 1);
  const end = rest.search(stopAt);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]);
}

/** Event names in the tables headed `| client → server |` (or server → client). */
function eventsInDoc(direction: 'client → server' | 'server → client'): string[] {
  const names = new Set<string>();
  const lines = doc.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith(`| ${direction} |`)) return;
    for (let j = i + 2; j < lines.length && lines[j].startsWith('|'); j++) {
      const m = /^\| `([a-z]+:[a-z-]+)`/.exec(lines[j]);
      if (m) names.add(m[1]);
    }
  });
  return [...names];
}

const clientEventsInDoc = () => eventsInDoc('client → server');

describe('docs/protocol.md and the code agree', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // With an API key, so that POST /auth/tokens (off without one) is served too.
    gw = await startTestGateway({ env: { AUTH_API_KEY: 'contract-test-api-key-0123456789abcdef' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('lists exactly the error codes the server uses', () => {
    expect(tableKeys(/^## Error codes/m).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('lists every configuration variable the server reads, and the server reads every one it lists', () => {
    const documented = tableKeys(/^## Configuration/m).flatMap((k) => k.split(/`\s*\/\s*`/));
    const section = doc.slice(doc.search(/^## Configuration/m));
    const next = section.slice(1).search(/^## /m);
    const inTable = (next < 0 ? section : section.slice(0, next + 1)).match(/`[A-Z_]+`/g)!.map((s) => s.slice(1, -1));
    for (const name of new Set([...documented, ...inTable])) expect(CONFIG_VARIABLES).toContain(name);
  });

  it('names client events the contracts know, and server pushes the contracts know', () => {
    const client = clientEventsInDoc();
    expect(client.length).toBeGreaterThanOrEqual(CLIENT_EVENT_NAMES.length);
    for (const name of CLIENT_EVENT_NAMES) expect(client).toContain(name);
    for (const name of eventsInDoc('server → client')) expect(SERVER_EVENT_NAMES).toContain(name);
    // flags:changed is described in prose, not in a table.
    for (const name of SERVER_EVENT_NAMES) expect(doc).toContain('`' + name + '`');
  });

  it('has a handler for every client event (none answered as unknown)', async () => {
    const c = await (await SocialClient.login(gw.url, uniqueHandle())).connect();
    for (const event of clientEventsInDoc()) {
      const ack = await c.rawRequest(event, {});
      expect({ event, ack }).toEqual({ event, ack: expect.objectContaining({ ok: expect.any(Boolean) }) });
      if (!ack.ok) expect({ event, details: ack.error.details }).not.toEqual({ event, details: { event } });
    }
    c.disconnect();
  });

  it('serves every HTTP route it lists (refusing, not missing, without credentials)', async () => {
    const routes = [...doc.matchAll(/^\| `(GET|POST|PUT|DELETE) ([^`]+)`/gm)].flatMap((m) => {
      // "PUT /blocks/:userId` / `DELETE /blocks/:userId" style rows carry two routes.
      const row = doc.slice(m.index!, doc.indexOf('\n', m.index!));
      return [...row.matchAll(/`(GET|POST|PUT|DELETE) ([^`?]+)/g)].map((r) => [r[1], r[2]] as const);
    });
    expect(routes.length).toBeGreaterThan(10);
    const id = '00000000-0000-4000-8000-000000000000';
    for (const [method, route] of routes) {
      const url =
        gw.url +
        route
          .replace(/:userId|:id/g, id)
          .replace(':handle', 'nobody')
          .replace(':key', 'video_call');
      const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      expect({ method, route, status: res.status }).not.toEqual({ method, route, status: 404 });
      if (res.status >= 400) expect((await res.json()).error.code).toEqual(expect.any(String));
    }
  });

  it('answers and pushes what the catalog declares: real acks and pushes parse with its result and payload schemas', async () => {
    const [ann, bob] = [await connectedUser(gw, 'cat_a'), await connectedUser(gw, 'cat_b')];
    try {
      await catalogRoundTrip(ann, bob);
    } finally {
      ann.disconnect();
      bob.disconnect();
    }
  });
});

/** A conversation and a call between two users; every ack and push is checked against the catalog's schemas. */
async function catalogRoundTrip(ann: SocialClient, bob: SocialClient): Promise<void> {
  const pushes: { to: string; event: ServerEventName; payload: unknown }[] = [];
  for (const client of [ann, bob]) {
    for (const event of SERVER_EVENT_NAMES) client.on(event, (payload) => pushes.push({ to: client.user.handle, event, payload }));
  }
  const acks: { event: ClientEventName; data: unknown }[] = [];
  const ask = async <E extends ClientEventName>(client: SocialClient, event: E, payload: ClientEvents[E]['payload']) => {
    const data = await client.request(event, payload);
    acks.push({ event, data });
    return data;
  };

  await ann.contacts.add(bob.id);
  await bob.contacts.add(ann.id);
  const sent = await ask(ann, 'dm:send', { to: bob.id, clientMsgId: crypto.randomUUID(), body: 'catalog' });
  await ask(ann, 'dm:send', { to: bob.id, clientMsgId: sent.message.clientMsgId, body: 'catalog' });
  await ask(bob, 'dm:history', { conversationId: sent.message.conversationId });
  await ask(bob, 'dm:read', { conversationId: sent.message.conversationId, upToSeq: sent.message.seq });
  await ask(bob, 'dm:sync', {});
  const { call } = await ask(ann, 'call:invite', { to: bob.id });
  await bob.calls.waitForCall(call.id);
  await ask(bob, 'call:accept', { callId: call.id });
  await ann.calls.waitForState(call.id, 'active');
  await ask(ann, 'media:capabilities', { callId: call.id });
  await ask(ann, 'media:create-transport', { callId: call.id, direction: 'recv', type: 'webrtc' });
  await ask(bob, 'media:join', { callId: call.id, recv: { type: 'webrtc' } });
  await ask(ann, 'call:hangup', { callId: call.id });
  await bob.calls.waitForState(call.id, 'ended');

  const wrong = [
    ...acks.flatMap(({ event, data }) => {
      const parsed = CLIENT_EVENT_SPECS[event].result.safeParse(data);
      return parsed.success ? [] : [{ ack: event, issues: parsed.error.issues }];
    }),
    ...pushes.flatMap(({ event, payload, to }) => {
      const parsed = SERVER_EVENT_SPECS[event].payload.safeParse(payload);
      return parsed.success ? [] : [{ push: event, to, issues: parsed.error.issues }];
    }),
  ];
  expect(wrong).toEqual([]);
  const seen = new Set(pushes.map((p) => p.event));
  for (const event of ['dm:new', 'dm:read', 'call:incoming', 'call:state', 'contacts:changed'] as const) {
    expect({ event, seen: seen.has(event) }).toEqual({ event, seen: true });
  }
}
