import crypto from 'node:crypto';
import { Pool } from 'pg';
import { ClientError, SocialClient } from '@app/client';
import type { MessageDto } from '@app/contracts';
import { MetricsService } from '@app/observability';
import { appended, startTestGateway, TestGateway, uniqueHandle, waitUntil } from '@app/testing';
import { BatchedMessageStore } from '../../libs/messaging/src/batched-message-store';
import { ConversationRepository } from '../../libs/messaging/src/conversation.repository';
import { MessageRepository, NewMessage } from '../../libs/messaging/src/message.repository';

const uuid = () => crypto.randomUUID();

type SendAck = { message: MessageDto; duplicate?: boolean };

/** Value of a metric series in the Prometheus text, 0 when absent. */
async function metric(gw: TestGateway, series: string): Promise<number> {
  const { body } = await gw.get(MetricsService).render();
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('messaging: sends batched into shared transactions', () => {
  let gw: TestGateway;
  let db: Pool;
  const clients: SocialClient[] = [];
  const online = async (prefix: string) => {
    const c = await (await SocialClient.login(gw.url, uniqueHandle(prefix))).connect();
    clients.push(c);
    return c;
  };
  const send = (from: SocialClient, to: SocialClient, body: string) =>
    from.request('dm:send', { to: to.id, clientMsgId: uuid(), body }) as Promise<SendAck>;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '100000', DM_RATE_BURST: '100000' } });
    db = new Pool({ connectionString: gw.db.url, max: 2 });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await db?.end();
    await gw?.close();
  });

  it('keeps every conversation gapless, in time order and free of duplicates when many sends share batches', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => online(`bat${i}`)));
    const pairs = [0, 2, 4].map((i) => [users[i], users[i + 1]] as const);
    const perDirection = 30;
    const repeatedIds = pairs.map(() => uuid());
    const batchesBefore = await metric(gw, 'dm_batch_size_count{query="append"}');
    const sendsBefore = await metric(gw, 'dm_batch_size_sum{query="append"}');
    const failuresBefore = await metric(gw, 'dm_batch_failures_total{query="append"}');

    const acks: SendAck[] = await Promise.all(
      pairs.flatMap(([a, b], p) => [
        ...Array.from({ length: perDirection }, (_, i) => a.request('dm:send', { to: b.id, clientMsgId: uuid(), body: `a${i}` })),
        ...Array.from({ length: perDirection }, (_, i) => b.request('dm:send', { to: a.id, clientMsgId: uuid(), body: `b${i}` })),
        // One clientMsgId sent five times at once: stored once.
        ...Array.from({ length: 5 }, () => a.request('dm:send', { to: b.id, clientMsgId: repeatedIds[p], body: 'once' })),
      ]),
    );

    const batches = (await metric(gw, 'dm_batch_size_count{query="append"}')) - batchesBefore;
    const sends = (await metric(gw, 'dm_batch_size_sum{query="append"}')) - sendsBefore;
    // Resends are answered by the check, by the copy being written, or left out of the batch's insert.
    expect(sends).toBeGreaterThanOrEqual(acks.filter((x) => !x.duplicate).length);
    expect(batches).toBeLessThan(sends); // some transactions carried several messages
    // The repeated clientMsgId never failed a batch into retrying one by one.
    expect(await metric(gw, 'dm_batch_failures_total{query="append"}')).toBe(failuresBefore);

    const perConversation = 2 * perDirection + 1;
    for (const [p, [a]] of pairs.entries()) {
      const mine = acks.filter((x) => x.message.senderId === a.id || x.message.recipientId === a.id);
      const repeated = mine.filter((x) => x.message.clientMsgId === repeatedIds[p]);
      expect(repeated.filter((x) => !x.duplicate)).toHaveLength(1);
      expect(new Set(repeated.map((x) => x.message.id)).size).toBe(1);
      const { rows } = await db.query<{ seq: number; created_at: Date }>(
        `SELECT seq, created_at FROM messages WHERE conversation_id = $1 ORDER BY seq`,
        [mine[0].message.conversationId],
      );
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: perConversation }, (_, i) => i + 1));
      for (let i = 1; i < rows.length; i++) expect(rows[i].created_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1].created_at.getTime());
      const { rows: conv } = await db.query<{ last_seq: number }>(`SELECT last_seq FROM conversations WHERE id = $1`, [
        mine[0].message.conversationId,
      ]);
      expect(conv[0].last_seq).toBe(perConversation);
      // Both sent, so both have read everything up to their own last message.
      const history = await a.request('dm:history', { conversationId: mine[0].message.conversationId, limit: 1 });
      expect(history.messages[0].seq).toBe(perConversation);
    }
  });

  it('numbers batches that wait on each other for the same conversations after what the others committed', async () => {
    const [a, b, c] = await Promise.all([online('locka'), online('lockb'), online('lockc')]);
    const conversations = gw.get(ConversationRepository);
    const ab = await conversations.ensureBetween(a.id, b.id);
    const ac = await conversations.ensureBetween(a.id, c.id);
    const repo = gw.get(MessageRepository);
    const message = (conversationId: string, senderId: string, recipientId: string): NewMessage => ({
      conversationId,
      senderId,
      recipientId,
      clientMsgId: uuid(),
      kind: 'text',
      body: 'x',
      at: new Date(),
    });
    // Many statements at once on the same two rows, in both orders within a batch, beside single appends:
    // each one waits for the previous commit and must number after it.
    const rounds = 6;
    const parallel = 8;
    const results = await Promise.all(
      Array.from({ length: rounds * parallel }, (_, i) =>
        i % 4 === 3
          ? repo.appendWithNextSeq(message(ab.id, b.id, a.id)).then((r) => [r])
          : repo.appendBatch([
              message(i % 2 ? ac.id : ab.id, a.id, i % 2 ? c.id : b.id),
              message(ab.id, b.id, a.id),
              message(ac.id, c.id, a.id),
            ]),
      ),
    );
    const stored = results.flat().map(appended);
    expect(stored.every((r) => r.stored)).toBe(true);
    for (const conversation of [ab, ac]) {
      const ofConversation = stored.filter((r) => r.message.conversationId === conversation.id);
      const { rows } = await db.query<{ seq: number }>(`SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, [
        conversation.id,
      ]);
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: ofConversation.length }, (_, i) => i + 1));
      expect(ofConversation.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(rows.map((r) => Number(r.seq)));
      const { rows: conv } = await db.query<{ last_seq: number }>(`SELECT last_seq FROM conversations WHERE id = $1`, [conversation.id]);
      expect(Number(conv[0].last_seq)).toBe(ofConversation.length);
    }
  });

  it('answers each send of one batch on its own: stored, unknown recipient, blocked', async () => {
    const [a, b, c, d] = await Promise.all(['ba', 'bb', 'bc', 'bd'].map(online));
    await d.http('PUT', `/blocks/${a.id}`);
    const outcome = (p: Promise<SendAck>) =>
      p.then(
        (ack) => `seq ${ack.message.seq}`,
        (err: ClientError) => err.code,
      );
    const results = await Promise.all([
      outcome(a.request('dm:send', { to: b.id, clientMsgId: uuid(), body: '1' })),
      outcome(a.request('dm:send', { to: uuid(), clientMsgId: uuid(), body: '2' })),
      outcome(a.request('dm:send', { to: d.id, clientMsgId: uuid(), body: '3' })),
      outcome(a.request('dm:send', { to: c.id, clientMsgId: uuid(), body: '4' })),
    ]);
    expect(results).toEqual(['seq 1', 'NOT_FOUND', 'BLOCKED', 'seq 1']);

    // The same checks made in one turn go in one query and still come back apart.
    const store = gw.get(BatchedMessageStore);
    const batchesBefore = await metric(gw, 'dm_batch_size_count{query="checks"}');
    const checks = await Promise.all(
      [b.id, uuid(), d.id, c.id].map((recipientId) => store.check({ senderId: a.id, recipientId, clientMsgId: uuid() })),
    );
    expect(await metric(gw, 'dm_batch_size_count{query="checks"}')).toBe(batchesBefore + 1);
    expect(checks.map((x) => [x.recipientExists, x.blockedEitherWay, x.earlier])).toEqual([
      [true, false, null],
      [false, false, null],
      [true, true, null],
      [true, false, null],
    ]);
  });

  it('checks a pair it has a conversation for in the append itself: one query per send, blocked ones refused', async () => {
    const [a, b, c, d] = await Promise.all(['ka', 'kb', 'kc', 'kd'].map(online));
    const outcome = (p: Promise<SendAck>) =>
      p.then(
        (ack) => `seq ${ack.message.seq}${ack.duplicate ? ' again' : ''}`,
        (err: ClientError) => err.code,
      );
    const resent = uuid();
    // First messages: the checks come first, and the pairs' conversations are known from then on.
    expect(await Promise.all([b, c, d].map((to) => outcome(a.request('dm:send', { to: to.id, clientMsgId: uuid(), body: 'hi' }))))).toEqual(
      ['seq 1', 'seq 1', 'seq 1'],
    );
    expect(await outcome(a.request('dm:send', { to: b.id, clientMsgId: resent, body: 'once' }))).toBe('seq 2');
    await d.http('PUT', `/blocks/${a.id}`);
    const checksBefore = await metric(gw, 'dm_batch_size_count{query="checks"}');
    const appendsBefore = await metric(gw, 'dm_batch_size_count{query="append"}');
    const failuresBefore = await metric(gw, 'dm_batch_failures_total{query="append"}');
    const results = await Promise.all([
      outcome(a.request('dm:send', { to: b.id, clientMsgId: uuid(), body: '1' })),
      outcome(a.request('dm:send', { to: d.id, clientMsgId: uuid(), body: '2' })),
      outcome(d.request('dm:send', { to: a.id, clientMsgId: uuid(), body: '3' })),
      outcome(a.request('dm:send', { to: b.id, clientMsgId: resent, body: 'once more' })),
      outcome(a.request('dm:send', { to: c.id, clientMsgId: uuid(), body: '4' })),
    ]);
    expect(results).toEqual(['seq 3', 'BLOCKED', 'BLOCKED', 'seq 2 again', 'seq 2']);
    // No checks query ran: each send went to the database once, in the appends' statements.
    expect(await metric(gw, 'dm_batch_size_count{query="checks"}')).toBe(checksBefore);
    expect(await metric(gw, 'dm_batch_size_count{query="append"}')).toBeGreaterThan(appendsBefore);
    expect(await metric(gw, 'dm_batch_failures_total{query="append"}')).toBe(failuresBefore);
    // The refused sends took no seq: unblocked, the pair goes on from where it was.
    await d.http('DELETE', `/blocks/${a.id}`);
    expect(await outcome(a.request('dm:send', { to: d.id, clientMsgId: uuid(), body: 'again' }))).toBe('seq 2');
  });

  it('never runs two append batches at once on the same users, and still runs one for other users beside another', async () => {
    const [a, b, c, d] = await Promise.all(['ra', 'rb', 'rc', 'rd'].map(online));
    // The pairs' conversations known, so each send goes to the database once, in an append batch.
    await Promise.all([send(a, b, 'hi'), send(c, d, 'hi')]);
    const repo = gw.get(MessageRepository);
    const append = repo.appendBatch.bind(repo);
    const running: Set<string>[] = [];
    let sharedUsers = 0;
    let besideAnother = 0;
    // Alice's batch is held open until another batch has started (or a second has passed).
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let heldOpen!: () => void;
    const aliceRunning = new Promise<void>((resolve) => (heldOpen = resolve));
    const spy = jest.spyOn(repo, 'appendBatch').mockImplementation(async (batch) => {
      const users = new Set(batch.flatMap((m) => [m.senderId.toLowerCase(), m.recipientId.toLowerCase()]));
      if (running.some((other) => [...users].some((u) => other.has(u)))) sharedUsers++;
      if (running.length > 0) besideAnother++;
      running.push(users);
      try {
        if (users.has(a.id.toLowerCase())) {
          heldOpen();
          await Promise.race([released, new Promise((r) => setTimeout(r, 1000))]);
        } else {
          release();
        }
        return await append(batch);
      } finally {
        running.splice(running.indexOf(users), 1);
      }
    });
    try {
      const first = send(a, b, 'a1');
      await aliceRunning;
      // Bob's reply waits for Alice's batch (their rows); Carol's message to Dan needs neither.
      const later = [send(b, a, 'b1'), send(c, d, 'c1')];
      const acks = await Promise.all([first, ...later]);
      expect(acks.map((ack) => ack.message.seq)).toEqual([2, 3, 2]);
      expect(sharedUsers).toBe(0);
      expect(besideAnother).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
    }
  });

  it("goes on answering other users' sends while a batch waits in the database on a locked conversation", async () => {
    const [a, b, c, d] = await Promise.all(['stalla', 'stallb', 'stallc', 'stalld'].map(online));
    // Both pairs' conversations known, so each send is one append.
    const [first] = await Promise.all([send(a, b, 'hi'), send(c, d, 'hi')]);
    // Another session holds Alice and Bob's conversation row, as a slow transaction would.
    const locker = await db.connect();
    let stalled: Promise<SendAck> | undefined;
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', [first.message.conversationId]);
      let answered = false;
      stalled = send(a, b, 'waits').finally(() => (answered = true));
      const waitingOnLock = async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%conversations%'`,
        );
        return rows[0].n > 0;
      };
      await waitUntil('the send to wait on the locked row', waitingOnLock, { timeoutMs: 2000, intervalMs: 20 });
      // Carol's sends, one after another, each in a batch beside the stalled one.
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await send(c, d, `c${i}`)).message.seq);
      expect(seqs).toEqual([2, 3, 4, 5, 6]);
      expect(answered).toBe(false);
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }
    expect((await stalled!).message.seq).toBe(2);
  });

  it('finds the one conversation of a pair whatever the case of the ids', async () => {
    const users = await Promise.all(['ca', 'cb', 'cc', 'cd'].map(online));
    for (const [x, y] of [
      [users[0], users[1]],
      [users[1], users[0]],
      [users[2], users[3]],
      [users[3], users[2]],
    ]) {
      const upper: SendAck = await x.request('dm:send', { to: y.id.toUpperCase(), clientMsgId: uuid(), body: 'u' });
      const lower: SendAck = await y.request('dm:send', { to: x.id, clientMsgId: uuid(), body: 'l' });
      expect(upper.message.conversationId).toBe(lower.message.conversationId);
    }
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM conversations WHERE user_low_id = ANY($1::uuid[])`, [
      users.map((u) => u.id),
    ]);
    expect(rows[0].n).toBe(2);
  });

  it('answers a resend that reaches a batch with the stored row, taking no seq', async () => {
    const [a, b] = await Promise.all([online('ra'), online('rb')]);
    const first: SendAck = await a.request('dm:send', { to: b.id, clientMsgId: uuid(), body: 'first' });
    const store = gw.get(BatchedMessageStore);
    const failuresBefore = await metric(gw, 'dm_batch_failures_total{query="append"}');
    const message = newMessage(first.message.conversationId, a.id, b.id);
    // Straight to the store, past the checks, in one turn: one batch.
    const results = (
      await Promise.all([
        store.append(message(uuid(), 'x1')),
        store.append(message(first.message.clientMsgId.toUpperCase(), 'again')),
        store.append(message(uuid(), 'x2')),
      ])
    ).map(appended);
    expect(results[1]).toEqual({ stored: false, message: expect.objectContaining({ id: first.message.id, body: 'first', seq: 1 }) });
    expect([results[0], results[2]].map((r) => [r.stored, r.message.seq])).toEqual([
      [true, 2],
      [true, 3],
    ]);
    expect(await metric(gw, 'dm_batch_failures_total{query="append"}')).toBe(failuresBefore);
  });

  it('retries a failed batch one message at a time, so only the bad message fails and seqs stay gapless', async () => {
    const [a, b] = await Promise.all([online('fa'), online('fb')]);
    const first: SendAck = await a.request('dm:send', { to: b.id, clientMsgId: uuid(), body: 'first' });
    const store = gw.get(BatchedMessageStore);
    const failuresBefore = await metric(gw, 'dm_batch_failures_total{query="append"}');
    const message = newMessage(first.message.conversationId, a.id, b.id);
    const outcomes = await Promise.allSettled([
      store.append(message(uuid(), 'x1')),
      store.append({ ...message(uuid(), 'lost'), conversationId: uuid() }),
      store.append(message(uuid(), 'x2')),
    ]);
    expect(await metric(gw, 'dm_batch_failures_total{query="append"}')).toBe(failuresBefore + 1);
    expect(outcomes[1].status).toBe('rejected');
    const seqs = [outcomes[0], outcomes[2]].map((o) => (o.status === 'fulfilled' ? appended(o.value).message.seq : null));
    expect(seqs.sort()).toEqual([2, 3]);
    const next: SendAck = await b.request('dm:send', { to: a.id, clientMsgId: uuid(), body: 'next' });
    expect(next.message.seq).toBe(4);
  });
});

function newMessage(conversationId: string, senderId: string, recipientId: string) {
  return (clientMsgId: string, body: string) => ({
    conversationId,
    senderId,
    recipientId,
    clientMsgId,
    kind: 'text' as const,
    body,
    at: new Date(),
  });
}
