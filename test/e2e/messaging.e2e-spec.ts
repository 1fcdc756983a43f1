import crypto from 'node:crypto';
import { ClientError, SocialClient } from '@app/client';
import type { MessageDto } from '@app/contracts';
import { DirectMessagesService } from '@app/messaging';
import { pushFence, startTestGateway, TestGateway, uniqueHandle } from '@app/testing';

const uuid = () => crypto.randomUUID();

async function user(gw: TestGateway, prefix: string): Promise<SocialClient> {
  return SocialClient.login(gw.url, uniqueHandle(prefix));
}

async function online(gw: TestGateway, prefix: string): Promise<SocialClient> {
  return (await user(gw, prefix)).connect();
}

/** A second socket of the same user. */
async function secondSocket(c: SocialClient): Promise<SocialClient> {
  return new SocialClient(c.baseUrl, c.token, c.user).connect();
}

async function send(from: SocialClient, to: SocialClient, body: string, clientMsgId = uuid()): Promise<MessageDto> {
  return (await from.request('dm:send', { to: to.id, clientMsgId, body })).message;
}

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
    return {};
  } catch (e) {
    return e as ClientError;
  }
}

/** Collects pushes of one event on a client. */
function collect<E extends 'dm:new' | 'dm:read' | 'dm:typing'>(c: SocialClient, event: E) {
  const seen: unknown[] = [];
  c.on(event, (p) => seen.push(p));
  return seen as never[];
}

describe('messaging: contacts, blocks and direct messages', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const track = <T extends SocialClient>(c: T) => (clients.push(c), c);

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '1000', DM_RATE_BURST: '1000' } });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
  });

  describe('contacts', () => {
    it('quick-adds, favourites, reports mutual, orders and removes', async () => {
      const me = track(await online(gw, 'me'));
      const [a, b, c] = await Promise.all([user(gw, 'ca'), user(gw, 'cb'), user(gw, 'cc')]);
      for (const other of [a, b, c]) {
        const added = await me.route('PUT /contacts/:userId', `/contacts/${other.id}`);
        expect(added).toMatchObject({ user: other.user, favorite: false, mutual: false });
      }
      // Adding again changes nothing (quick add), favourite is set only when asked.
      expect(await me.http('PUT', `/contacts/${a.id}`, {})).toMatchObject({ favorite: false });
      expect(await me.http('PUT', `/contacts/${c.id}`, { favorite: true })).toMatchObject({ favorite: true });
      expect(await me.http('PUT', `/contacts/${c.id}`)).toMatchObject({ favorite: true });
      await b.http('PUT', `/contacts/${me.id}`);
      // A conversation with a makes it the most recent after the favourite.
      await send(me, a, 'hi a');
      const { contacts } = await me.route('GET /contacts', '/contacts');
      expect(contacts.map((x) => x.user.id)).toEqual([c.id, a.id, b.id]);
      expect(contacts.find((x) => x.user.id === b.id)).toMatchObject({ mutual: true });
      expect(new Date(contacts[0].addedAt).toISOString()).toBe(contacts[0].addedAt);
      expect(await me.http('DELETE', `/contacts/${b.id}`)).toEqual({});
      expect(await me.http('DELETE', `/contacts/${b.id}`)).toEqual({});
      const after = await me.route('GET /contacts', '/contacts');
      expect(after.contacts.map((x) => x.user.id)).toEqual([c.id, a.id]);
    });

    it('refuses self, unknown users and bad input', async () => {
      const me = await user(gw, 'cbad');
      expect(await codeOf(me.http('PUT', `/contacts/${me.id}`))).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(await codeOf(me.http('PUT', `/contacts/${uuid()}`))).toMatchObject({ code: 'NOT_FOUND', status: 404 });
      const bad = await codeOf(me.http('PUT', '/contacts/not-a-uuid'));
      expect(bad).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [expect.objectContaining({ field: 'userId' })] } });
      const other = await user(gw, 'cother');
      for (const body of [{ favorite: 'yes' }, [1], 'x']) {
        const err = await codeOf(me.http('PUT', `/contacts/${other.id}`, body));
        expect(err).toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      expect(await codeOf(me.http('PUT', `/blocks/${me.id}`))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await codeOf(me.http('PUT', `/blocks/${uuid()}`))).toMatchObject({ code: 'NOT_FOUND' });
      const noAuth = await fetch(`${gw.url}/contacts`);
      expect(noAuth.status).toBe(401);
    });
  });

  describe('sending and delivery', () => {
    it('delivers to every socket of the recipient and the sender’s other sockets, not to others', async () => {
      const alice = track(await online(gw, 'alice'));
      const alice2 = track(await secondSocket(alice));
      const bob = track(await online(gw, 'bob'));
      const bob2 = track(await secondSocket(bob));
      const carol = track(await online(gw, 'carol'));
      const got = {
        alice: collect(alice, 'dm:new'),
        alice2: collect(alice2, 'dm:new'),
        bob: collect(bob, 'dm:new'),
        bob2: collect(bob2, 'dm:new'),
        carol: collect(carol, 'dm:new'),
      };
      const clientMsgId = uuid();
      const bobHears = bob.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
      const { message } = await alice.request('dm:send', { to: bob.id, clientMsgId, body: 'hello bob' });
      expect(message).toMatchObject({
        senderId: alice.id,
        recipientId: bob.id,
        seq: 1,
        body: 'hello bob',
        clientMsgId,
        kind: 'text',
      });
      expect(new Date(message.createdAt).toISOString()).toBe(message.createdAt);
      expect((await bobHears).message).toEqual(message);
      const replyId = uuid();
      const aliceHears = alice.waitFor('dm:new', (p) => p.message.clientMsgId === replyId);
      const reply = await send(bob2, alice, 'hi alice', replyId);
      expect(reply).toMatchObject({ seq: 2, conversationId: message.conversationId });
      expect((await aliceHears).message).toEqual(reply);
      // Carol talks to Alice in a conversation of her own.
      const fromCarol = await send(carol, alice, 'carol here');
      expect(fromCarol.seq).toBe(1);
      expect(fromCarol.conversationId).not.toBe(message.conversationId);
      // Everything sent to these sockets so far has arrived once a later push has.
      await Promise.all([pushFence(bob, [alice, alice2]), pushFence(carol, [bob, bob2]), pushFence(alice, [carol])]);
      const ids = (list: { message: MessageDto }[]) => list.map((p) => p.message.id);
      expect(ids(got.bob)).toEqual([message.id, reply.id]);
      expect(ids(got.bob2)).toEqual([message.id]); // its own send came back in the ack only
      expect(ids(got.alice2)).toEqual([message.id, reply.id, fromCarol.id]);
      expect(ids(got.alice)).toEqual([reply.id, fromCarol.id]);
      expect(ids(got.carol)).toEqual([]);
    });

    it('counts characters, not bytes: 4000 emoji pass, 4001 do not, any script works', async () => {
      const a = track(await online(gw, 'uni'));
      const b = await user(gw, 'unib');
      const emoji = '😀'.repeat(4000);
      expect((await send(a, b, emoji)).body).toBe(emoji);
      for (const text of ['Привет', 'こんにちは', 'مرحبا', '👩‍👩‍👧 family', 'x'.repeat(4000)]) {
        expect((await send(a, b, text)).body).toBe(text);
      }
      const err = await codeOf(send(a, b, '😀'.repeat(4001)));
      expect(err).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [expect.objectContaining({ field: 'body' })] } });
    });

    it('gives 200 concurrent sends into one conversation seq 1..200 exactly', async () => {
      const a = track(await online(gw, 'burst'));
      const a2 = track(await secondSocket(a));
      const b = track(await online(gw, 'burstb'));
      const senders = [a, a2, b];
      const acks = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const from = senders[i % senders.length];
          return send(from, from === b ? a : b, `m${i}`);
        }),
      );
      const seqs = acks.map((m) => m.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(new Set(acks.map((m) => m.conversationId)).size).toBe(1);
      const page1 = await a.request('dm:history', { conversationId: acks[0].conversationId, limit: 100 });
      const page2 = await a.request('dm:history', {
        conversationId: acks[0].conversationId,
        limit: 100,
        beforeSeq: page1.nextBeforeSeq!,
      });
      const stored = [...page1.messages, ...page2.messages].map((m) => m.seq);
      expect(stored).toEqual(Array.from({ length: 200 }, (_, i) => 200 - i));
      expect(page2.nextBeforeSeq).toBeNull();
    });

    it('stores one row for a clientMsgId sent many times at once, and answers resends with it', async () => {
      const a = track(await online(gw, 'dup'));
      const a2 = track(await secondSocket(a));
      const b = track(await online(gw, 'dupb'));
      const c = await user(gw, 'dupc');
      const bobGot = collect(b, 'dm:new');
      const clientMsgId = uuid();
      const acks = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : a2).request('dm:send', { to: b.id, clientMsgId, body: 'once' })),
      );
      expect(new Set(acks.map((x) => x.message.id)).size).toBe(1);
      expect(acks.filter((x) => !(x as { duplicate?: boolean }).duplicate)).toHaveLength(1);
      // Another body or recipient with the same clientMsgId still gets the stored message.
      const resend = await a.request('dm:send', { to: c.id, clientMsgId, body: 'changed' });
      expect(resend.message).toEqual(acks[0].message);
      const next = await send(a, b, 'after');
      expect(next.seq).toBe(2); // no seq was used up by the duplicates
      const history = await b.request('dm:history', { conversationId: next.conversationId });
      expect(history.messages.map((m) => m.body)).toEqual(['after', 'once']);
      await pushFence(a, [b]);
      expect(bobGot.map((p: { message: MessageDto }) => p.message.body)).toEqual(['once', 'after']);
      const { conversations } = await c.route('GET /conversations', '/conversations');
      expect(conversations).toEqual([]);
    });

    it('refuses self, unknown recipients and every malformed payload with the field named', async () => {
      const a = track(await online(gw, 'val'));
      const b = await user(gw, 'valb');
      expect(await codeOf(send(a, a, 'me'))).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { fields: [expect.objectContaining({ field: 'to' })] },
      });
      expect(await codeOf(a.request('dm:send', { to: uuid(), clientMsgId: uuid(), body: 'x' }))).toMatchObject({
        code: 'NOT_FOUND',
      });
      const cases: [string, unknown, string][] = [
        ['dm:send', null, 'payload'],
        ['dm:send', 'text', 'payload'],
        ['dm:send', [1, 2], 'payload'],
        ['dm:send', 42, 'payload'],
        ['dm:send', {}, 'to'],
        ['dm:send', { clientMsgId: uuid(), body: 'x' }, 'to'],
        ['dm:send', { to: 'bob', clientMsgId: uuid(), body: 'x' }, 'to'],
        ['dm:send', { to: b.id, body: 'x' }, 'clientMsgId'],
        ['dm:send', { to: b.id, clientMsgId: 'abc', body: 'x' }, 'clientMsgId'],
        ['dm:send', { to: b.id, clientMsgId: uuid() }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: '' }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: 7 }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: { text: 'x' } }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: 'x'.repeat(4001) }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: 'y'.repeat(60_000) }, 'body'],
        ['dm:send', { to: b.id, clientMsgId: uuid(), body: 'nul\u0000' }, 'body'],
        ['dm:history', {}, 'conversationId'],
        ['dm:history', { conversationId: uuid(), limit: 0 }, 'limit'],
        ['dm:history', { conversationId: uuid(), limit: 101 }, 'limit'],
        ['dm:history', { conversationId: uuid(), beforeSeq: 'x' }, 'beforeSeq'],
        ['dm:read', { conversationId: uuid() }, 'upToSeq'],
        ['dm:read', { conversationId: uuid(), upToSeq: -1 }, 'upToSeq'],
        ['dm:read', { conversationId: uuid(), upToSeq: 1.5 }, 'upToSeq'],
        ['dm:typing', { to: 5 }, 'to'],
        ['dm:sync', { afterCursor: 12 }, 'afterCursor'],
        ['dm:sync', { afterCursor: 'garbage!' }, 'afterCursor'],
        ['dm:sync', { limit: 0 }, 'limit'],
        ['dm:sync', null, 'payload'],
      ];
      for (const [event, payload, field] of cases) {
        const ack = await a.rawRequest(event, payload);
        expect({ event, payload: JSON.stringify(payload).slice(0, 60), ack }).toMatchObject({
          ack: {
            ok: false,
            error: { code: 'VALIDATION_FAILED', details: { fields: expect.arrayContaining([expect.objectContaining({ field })]) } },
          },
        });
      }
      // Nothing was stored by any of that.
      const { conversations } = await a.route('GET /conversations', '/conversations');
      expect(conversations).toEqual([]);
      // The socket is still usable.
      expect((await send(a, b, 'still here')).seq).toBe(1);
    });
  });

  describe('reading', () => {
    it('pages history newest first over the socket and HTTP, lists conversations with unread counts', async () => {
      const a = track(await online(gw, 'hist'));
      const b = track(await online(gw, 'histb'));
      for (let i = 1; i <= 5; i++) await send(a, b, `n${i}`);
      const last = await send(b, a, 'reply');
      const conversationId = last.conversationId;
      const p1 = await a.request('dm:history', { conversationId, limit: 4 });
      expect(p1.messages.map((m) => m.seq)).toEqual([6, 5, 4, 3]);
      expect(p1.nextBeforeSeq).toBe(3);
      const p2 = await a.route('GET /conversations/:id/messages', `/conversations/${conversationId}/messages?beforeSeq=3&limit=4`);
      expect(p2.messages.map((m) => m.seq)).toEqual([2, 1]);
      expect(p2.nextBeforeSeq).toBeNull();
      const all = await b.route('GET /conversations/:id/messages', `/conversations/${conversationId}/messages`);
      expect(all.messages).toHaveLength(6);
      for (const q of ['limit=0', 'limit=101', 'beforeSeq=abc', 'limit=2.5']) {
        expect(await codeOf(a.http('GET', `/conversations/${conversationId}/messages?${q}`))).toMatchObject({
          code: 'VALIDATION_FAILED',
          status: 400,
        });
      }
      expect(await codeOf(a.http('GET', '/conversations/nope/messages'))).toMatchObject({ code: 'VALIDATION_FAILED' });

      const listA = await a.route('GET /conversations', '/conversations');
      expect(listA.conversations).toEqual([{ id: conversationId, peer: b.user, lastMessage: last, unread: 1 }]);
      const listB = await b.route('GET /conversations', '/conversations');
      expect(listB.conversations[0].unread).toBe(0); // replying covers what came before
    });

    it('moves the read mark forward only, tells the other side, and reflects it in unread', async () => {
      const a = track(await online(gw, 'read'));
      const b = track(await online(gw, 'readb'));
      const b2 = track(await secondSocket(b));
      for (let i = 1; i <= 4; i++) await send(a, b, `r${i}`);
      const { conversations } = await b.route('GET /conversations', '/conversations');
      expect(conversations[0].unread).toBe(4);
      const conversationId = conversations[0].id;
      const aReads = collect(a, 'dm:read');
      const b2Reads = collect(b2, 'dm:read');
      const told = a.waitFor('dm:read');
      expect(await b.request('dm:read', { conversationId, upToSeq: 3 })).toEqual({});
      expect(await told).toEqual({ conversationId, readerId: b.id, upToSeq: 3 });
      expect(await b.request('dm:read', { conversationId, upToSeq: 1 })).toEqual({}); // backwards: no change
      expect(await b.request('dm:read', { conversationId, upToSeq: 99 })).toEqual({}); // capped at the newest
      await Promise.all([pushFence(b, [a]), pushFence(a, [b2])]);
      expect(aReads).toEqual([
        { conversationId, readerId: b.id, upToSeq: 3 },
        { conversationId, readerId: b.id, upToSeq: 4 },
      ]);
      expect(b2Reads).toHaveLength(2); // the reader's other device clears its badge too
      const after = await b.route('GET /conversations', '/conversations');
      expect(after.conversations[0].unread).toBe(0);
      await send(a, b, 'r5');
      const later = await b.route('GET /conversations', '/conversations');
      expect(later.conversations[0].unread).toBe(1);
    });

    it('relays typing without storing it', async () => {
      const a = track(await online(gw, 'typ'));
      const b = track(await online(gw, 'typb'));
      const typing = b.waitFor('dm:typing');
      expect(await a.request('dm:typing', { to: b.id })).toEqual({});
      expect(await typing).toEqual({ from: a.id });
      expect(await codeOf(a.request('dm:typing', { to: a.id }))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await codeOf(a.request('dm:typing', { to: uuid() }))).toMatchObject({ code: 'NOT_FOUND' });
      const { conversations } = await a.route('GET /conversations', '/conversations');
      expect(conversations).toEqual([]);
    });

    it('refuses an outsider’s reads with NOT_FOUND, the same answer as an unknown id', async () => {
      const a = track(await online(gw, 'own'));
      const b = await user(gw, 'ownb');
      const outsider = track(await online(gw, 'outsider'));
      const m = await send(a, b, 'private');
      for (const conversationId of [m.conversationId, uuid()]) {
        expect(await codeOf(outsider.request('dm:history', { conversationId }))).toMatchObject({ code: 'NOT_FOUND' });
        expect(await codeOf(outsider.request('dm:read', { conversationId, upToSeq: 1 }))).toMatchObject({
          code: 'NOT_FOUND',
        });
        expect(await codeOf(outsider.http('GET', `/conversations/${conversationId}/messages`))).toMatchObject({
          code: 'NOT_FOUND',
          status: 404,
        });
      }
      const sync = await outsider.request('dm:sync', {});
      expect(sync.messages).toEqual([]);
      const forged = Buffer.from(JSON.stringify({ v: 1, s: { [m.conversationId]: 0 } })).toString('base64url');
      expect((await outsider.request('dm:sync', { afterCursor: forged })).messages).toEqual([]);
      const { conversations } = await outsider.route('GET /conversations', '/conversations');
      expect(conversations).toEqual([]);
    });
  });

  describe('never missing a message', () => {
    it('catches an offline user up through dm:sync, in pages, without repeats', async () => {
      const a = track(await online(gw, 'sync'));
      const c = track(await online(gw, 'syncc'));
      const b = await user(gw, 'syncb'); // offline
      const sent: MessageDto[] = [];
      for (let i = 1; i <= 5; i++) sent.push(await send(a, b, `a${i}`));
      for (let i = 1; i <= 3; i++) sent.push(await send(c, b, `c${i}`));
      await b.connect();
      track(b);
      const received: MessageDto[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await b.request('dm:sync', { afterCursor: cursor, limit: 3 });
        received.push(...page.messages);
        cursor = page.cursor;
        pages++;
        if (!page.hasMore) break;
      }
      expect(pages).toBe(3);
      expect(received.map((m) => m.id).sort()).toEqual(sent.map((m) => m.id).sort());
      // Oldest first, and each conversation in seq order.
      for (const conv of new Set(received.map((m) => m.conversationId))) {
        const seqs = received.filter((m) => m.conversationId === conv).map((m) => m.seq);
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      }
      const again = await b.request('dm:sync', { afterCursor: cursor });
      expect(again).toMatchObject({ messages: [], hasMore: false });

      // The socket is lost; more arrives, including b's own message from another device.
      b.disconnect();
      const more = [await send(a, b, 'while away 1'), await send(c, b, 'while away 2')];
      const phone = await secondSocket(b);
      const fromOtherDevice = await phone.request('dm:send', { to: a.id, clientMsgId: uuid(), body: 'from my phone' });
      phone.disconnect();
      await b.connect();
      const caughtUp = await b.request('dm:sync', { afterCursor: again.cursor });
      expect(caughtUp.messages.map((m) => m.id)).toEqual([...more, fromOtherDevice.message].map((m) => m.id));
      expect(caughtUp.hasMore).toBe(false);
    });

    it('sync under concurrent sends never skips a message', async () => {
      const a = track(await online(gw, 'race'));
      const b = track(await online(gw, 'raceb'));
      const c = track(await online(gw, 'racec'));
      let cursor: string | undefined;
      const seen = new Map<string, MessageDto>();
      const sends = Promise.all(Array.from({ length: 60 }, (_, i) => send(i % 2 ? a : c, b, `x${i}`)));
      let done = false;
      void sends.finally(() => (done = true)).catch(() => undefined); // a failed send ends the loop too
      while (!done) {
        const page = await b.request('dm:sync', { afterCursor: cursor, limit: 7 });
        for (const m of page.messages) {
          expect(seen.has(m.id)).toBe(false);
          seen.set(m.id, m);
        }
        cursor = page.cursor;
      }
      const sent = await sends;
      for (;;) {
        const page = await b.request('dm:sync', { afterCursor: cursor, limit: 7 });
        for (const m of page.messages) seen.set(m.id, m);
        cursor = page.cursor;
        if (!page.hasMore) break;
      }
      expect([...seen.keys()].sort()).toEqual(sent.map((m) => m.id).sort());
    });
  });

  describe('blocks', () => {
    it('stops messages and typing both ways with BLOCKED until unblocked', async () => {
      const a = track(await online(gw, 'blk'));
      const b = track(await online(gw, 'blkb'));
      await send(a, b, 'before');
      expect(await b.http('PUT', `/blocks/${a.id}`)).toEqual({});
      expect(await b.http('PUT', `/blocks/${a.id}`)).toEqual({});
      const listed = await b.route('GET /blocks', '/blocks');
      expect(listed.blocks.map((x) => x.user.id)).toEqual([a.id]);
      expect(await codeOf(send(a, b, 'blocked?'))).toMatchObject({ code: 'BLOCKED' });
      expect(await codeOf(send(b, a, 'me neither'))).toMatchObject({ code: 'BLOCKED' });
      expect(await codeOf(a.request('dm:typing', { to: b.id }))).toMatchObject({ code: 'BLOCKED' });
      expect(await b.http('DELETE', `/blocks/${a.id}`)).toEqual({});
      expect(await b.http('DELETE', `/blocks/${a.id}`)).toEqual({});
      expect((await send(a, b, 'after')).seq).toBe(2);
    });
  });

  describe('call entries', () => {
    it('stores a call entry once and delivers it to both like a message', async () => {
      const a = track(await online(gw, 'call'));
      const b = track(await online(gw, 'callb'));
      await send(a, b, 'call me');
      const callId = uuid();
      const toA = a.waitFor('dm:new', (p) => p.message.kind === 'call');
      const toB = b.waitFor('dm:new', (p) => p.message.kind === 'call');
      const writer = gw.get(DirectMessagesService);
      await Promise.all([
        writer.appendCallEntry({ callId, callerId: a.id, calleeId: b.id, body: 'Voice call · 0:42' }),
        writer.appendCallEntry({ callId, callerId: a.id, calleeId: b.id, body: 'Voice call · 0:42' }),
      ]);
      const [ea, eb] = await Promise.all([toA, toB]);
      expect(ea.message).toEqual(eb.message);
      expect(ea.message).toMatchObject({ kind: 'call', callId, clientMsgId: callId, senderId: a.id, seq: 2 });
      const history = await b.request('dm:history', { conversationId: ea.message.conversationId });
      expect(history.messages.filter((m) => m.kind === 'call')).toHaveLength(1);
    });
  });
});

describe('messaging: rate limit', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '1', DM_RATE_BURST: '3' } });
  });
  afterAll(async () => gw?.close());

  it('refuses sends over the burst with RATE_LIMITED and retryAfterMs, per user', async () => {
    const a = await online(gw, 'rl');
    const b = await online(gw, 'rlb');
    for (let i = 0; i < 3; i++) await send(a, b, `ok${i}`);
    const err = await codeOf(send(a, b, 'too many'));
    expect(err).toMatchObject({ code: 'RATE_LIMITED' });
    expect(err.details?.retryAfterMs).toEqual(expect.any(Number));
    expect(err.details?.retryAfterMs as number).toBeGreaterThan(0);
    expect(err.details?.retryAfterMs as number).toBeLessThanOrEqual(1000);
    expect((await send(b, a, 'b has its own bucket')).seq).toBe(4);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/rate_limited_total\{rule="dm:send"\} 1/);
    expect(metrics).toMatch(/messages_sent_total\{kind="text"\} 4/);
    a.disconnect();
    b.disconnect();
  });
});
