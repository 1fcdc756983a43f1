import crypto from 'node:crypto';
import type { AppConfig } from '@app/config';
import { DatabasePool } from '@app/database';
import { appended, createRepositoryDatabase, RepositoryDatabase } from '../../../test/support/repository-database';
import { ConversationRepository } from './conversation.repository';
import { MessageRepository, NewMessage } from './message.repository';

const T0 = new Date('2030-01-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe('MessageRepository (PostgreSQL)', () => {
  let database: RepositoryDatabase;
  let messages: MessageRepository;
  let conversations: ConversationRepository;

  beforeAll(async () => {
    database = await createRepositoryDatabase();
    messages = new MessageRepository(database.prisma, database.pool);
    conversations = new ConversationRepository(database.prisma, database.pool);
  });
  afterAll(() => database?.close());

  /** Two new users and their conversation. */
  async function pair(): Promise<{ a: string; b: string; conversationId: string }> {
    const [a, b] = await database.createUsers(2);
    const { id } = await conversations.ensureBetween(a, b);
    return { a, b, conversationId: id };
  }

  function message(conversationId: string, senderId: string, recipientId: string, seconds: number, body = `m${seconds}`): NewMessage {
    return { conversationId, senderId, recipientId, clientMsgId: crypto.randomUUID(), kind: 'text', body, at: at(seconds) };
  }

  describe('appendWithNextSeq', () => {
    it('numbers a conversation’s messages 1, 2, 3 whoever sends', async () => {
      const { a, b, conversationId } = await pair();
      const seqs: number[] = [];
      for (const [from, to, s] of [
        [a, b, 1],
        [b, a, 2],
        [a, b, 3],
      ] as const) {
        const result = await messages.appendWithNextSeq(message(conversationId, from, to, s));
        expect(result.stored).toBe(true);
        seqs.push(result.message.seq);
      }
      expect(seqs).toEqual([1, 2, 3]);
    });

    it('answers a resent clientMsgId with the stored message and uses no seq', async () => {
      const { a, b, conversationId } = await pair();
      const first = message(conversationId, a, b, 1, 'hello');
      const stored = await messages.appendWithNextSeq(first);
      const again = await messages.appendWithNextSeq({ ...first, body: 'changed', at: at(9) });
      expect(again).toEqual({ stored: false, message: stored.message });
      expect((await messages.appendWithNextSeq(message(conversationId, a, b, 2))).message.seq).toBe(2);
      expect(await messages.findBySenderAndClientMsgId(a, first.clientMsgId)).toEqual(stored.message);
    });

    it('never stores a time earlier than the conversation’s previous message', async () => {
      const { a, b, conversationId } = await pair();
      await messages.appendWithNextSeq(message(conversationId, a, b, 10));
      const late = await messages.appendWithNextSeq(message(conversationId, b, a, 5));
      expect(late.message.createdAt).toEqual(at(10));
      expect(late.message.seq).toBe(2);
    });

    it('gives concurrent appends distinct consecutive seqs', async () => {
      const { a, b, conversationId } = await pair();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => messages.appendWithNextSeq(message(conversationId, i % 2 ? a : b, i % 2 ? b : a, i))),
      );
      expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });

  describe('appendBatch', () => {
    it('stores a batch over several conversations with gapless seqs in input order, answering resends with the stored row', async () => {
      const one = await pair();
      const two = await pair();
      const earlier = await messages.appendWithNextSeq(message(one.conversationId, one.a, one.b, 1));
      const batch = [
        message(one.conversationId, one.b, one.a, 2),
        message(two.conversationId, two.a, two.b, 2),
        { ...message(one.conversationId, one.a, one.b, 3), clientMsgId: earlier.message.clientMsgId },
        message(one.conversationId, one.a, one.b, 4),
        message(two.conversationId, two.b, two.a, 5),
      ];
      const results = (await messages.appendBatch(batch)).map(appended);
      expect(results.map((r) => r.stored)).toEqual([true, true, false, true, true]);
      expect(results.map((r) => r.message.seq)).toEqual([2, 1, 1, 3, 2]);
      expect(results[2].message).toEqual(earlier.message);
      expect(results.map((r) => r.message.clientMsgId)).toEqual(batch.map((m) => m.clientMsgId));
    });

    it('makes the send checks itself: refuses a blocked pair’s and a missing recipient’s messages, storing the rest gaplessly', async () => {
      const open = await pair();
      const blocked = await pair();
      await database.pool.query('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [blocked.b, blocked.a]);
      const batch = [
        message(open.conversationId, open.a, open.b, 1),
        message(blocked.conversationId, blocked.a, blocked.b, 2),
        message(open.conversationId, open.b, open.a, 3),
        message(blocked.conversationId, blocked.b, blocked.a, 4),
        { ...message(open.conversationId, open.a, open.b, 5), recipientId: crypto.randomUUID() },
        message(open.conversationId, open.a, open.b, 6),
      ];
      const results = await messages.appendBatch(batch);
      expect(results.map((r) => ('refused' in r ? r.refused : r.message.seq))).toEqual([
        1,
        'blocked',
        2,
        'blocked',
        'recipient_missing',
        3,
      ]);
      const seqs = async (conversationId: string) =>
        (
          await database.pool.query<{ seq: string }>('SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq', [conversationId])
        ).map((r) => Number(r.seq));
      expect(await seqs(open.conversationId)).toEqual([1, 2, 3]);
      expect(await seqs(blocked.conversationId)).toEqual([]);
      const [{ last_seq }] = await database.pool.query<{ last_seq: string }>('SELECT last_seq FROM conversations WHERE id = $1', [
        blocked.conversationId,
      ]);
      expect(Number(last_seq)).toBe(0);
      // Unblocked, the next message of that pair is its first.
      await database.pool.query('DELETE FROM blocks WHERE blocker_id = $1', [blocked.b]);
      const [next] = (await messages.appendBatch([message(blocked.conversationId, blocked.a, blocked.b, 7)])).map(appended);
      expect(next.message.seq).toBe(1);
    });

    it('refuses nothing for a block between users of the batch who do not write to each other', async () => {
      const one = await pair();
      const two = await pair();
      // Both are in the batch (the statement reads the blocks among its users once), but neither writes to the other.
      await database.pool.query('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [one.a, two.b]);
      const results = (
        await messages.appendBatch([message(one.conversationId, one.a, one.b, 1), message(two.conversationId, two.b, two.a, 2)])
      ).map(appended);
      expect(results.map((r) => [r.stored, r.message.seq])).toEqual([
        [true, 1],
        [true, 1],
      ]);
    });

    it('checks a message appended on its own the same way (the path of a failed batch)', async () => {
      const blocked = await pair();
      await database.pool.query('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [blocked.a, blocked.b]);
      expect(await messages.appendChecked(message(blocked.conversationId, blocked.b, blocked.a, 1))).toEqual({ refused: 'blocked' });
      const open = await pair();
      const first = appended(await messages.appendChecked(message(open.conversationId, open.a, open.b, 2)));
      expect(first).toMatchObject({ stored: true, message: { seq: 1 } });
      const again = await messages.appendChecked({
        ...message(open.conversationId, open.a, open.b, 3),
        clientMsgId: first.message.clientMsgId,
      });
      expect(again).toEqual({ stored: false, message: first.message });
    });
  });

  describe('sendChecks', () => {
    it('answers each request in order: earlier message, recipient known, blocked either way', async () => {
      const { a, b, conversationId } = await pair();
      const [c, d] = await database.createUsers(2);
      await database.pool.query('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [c, a]);
      const stored = await messages.appendWithNextSeq(message(conversationId, a, b, 1));
      const checks = await messages.sendChecks([
        { senderId: a, recipientId: b, clientMsgId: crypto.randomUUID() },
        { senderId: a, recipientId: b, clientMsgId: stored.message.clientMsgId },
        { senderId: a, recipientId: crypto.randomUUID(), clientMsgId: crypto.randomUUID() },
        { senderId: a, recipientId: c, clientMsgId: crypto.randomUUID() },
        { senderId: c, recipientId: a, clientMsgId: crypto.randomUUID() },
        { senderId: c, recipientId: d, clientMsgId: crypto.randomUUID() },
      ]);
      expect(checks).toEqual([
        { earlier: null, recipientExists: true, blockedEitherWay: false },
        { earlier: stored.message, recipientExists: true, blockedEitherWay: false },
        { earlier: null, recipientExists: false, blockedEitherWay: false },
        { earlier: null, recipientExists: true, blockedEitherWay: true },
        { earlier: null, recipientExists: true, blockedEitherWay: true },
        { earlier: null, recipientExists: true, blockedEitherWay: false },
      ]);
    });
  });

  describe('reading', () => {
    it('pages a conversation newest first, before a seq', async () => {
      const { a, b, conversationId } = await pair();
      for (let s = 1; s <= 5; s++) await messages.appendWithNextSeq(message(conversationId, a, b, s));
      expect((await messages.page(conversationId, undefined, 2)).map((m) => m.seq)).toEqual([5, 4]);
      expect((await messages.page(conversationId, 4, 10)).map((m) => m.seq)).toEqual([3, 2, 1]);
    });

    it('keeps each user’s inbox in one gapless order over every conversation', async () => {
      const { a, b, conversationId } = await pair();
      const [c] = await database.createUsers(1);
      const other = await conversations.ensureBetween(a, c);
      const sent = [
        await messages.appendWithNextSeq(message(conversationId, a, b, 1)),
        await messages.appendWithNextSeq(message(other.id, c, a, 2)),
        await messages.appendWithNextSeq(message(conversationId, b, a, 3)),
      ];
      expect(await messages.inboxTop(a)).toBe(3);
      expect(await messages.inboxTop(b)).toBe(2);
      const inbox = await messages.inboxAfter(a, 0, 10);
      expect(inbox.map((m) => [m.id, m.position])).toEqual(sent.map((s, i) => [s.message.id, i + 1]));
      expect((await messages.inboxAfter(a, 1, 1)).map((m) => m.id)).toEqual([sent[1].message.id]);
      expect((await messages.inboxAfter(b, 0, 10)).map((m) => m.position)).toEqual([1, 2]);
    });

    it('finds what a previous-format cursor has not seen, in inbox order', async () => {
      const { a, b, conversationId } = await pair();
      const [c] = await database.createUsers(1);
      const other = await conversations.ensureBetween(a, c);
      const m1 = await messages.appendWithNextSeq(message(conversationId, a, b, 1));
      const m2 = await messages.appendWithNextSeq(message(other.id, c, a, 2));
      const m3 = await messages.appendWithNextSeq(message(conversationId, b, a, 3));
      const unseen = await messages.inboxUnseen(a, { [conversationId]: 1 }, 10);
      expect(unseen.map((m) => m.id)).toEqual([m2.message.id, m3.message.id]);
      expect(unseen.map((m) => m.position)).toEqual([2, 3]);
      expect((await messages.inboxUnseen(a, {}, 10)).map((m) => m.id)).toEqual([m1.message.id, m2.message.id, m3.message.id]);
    });
  });

  describe('plans', () => {
    /** Relations a plan (EXPLAIN's JSON) reads with a sequential scan. */
    function seqScanned(plan: Record<string, unknown>): string[] {
      const here = plan['Node Type'] === 'Seq Scan' ? [plan['Relation Name'] as string] : [];
      return [...here, ...((plan['Plans'] as Record<string, unknown>[] | undefined) ?? []).flatMap(seqScanned)];
    }

    it('looks stored messages up by their key, even in the plans a new, empty database gets', async () => {
      // A fresh database of its own: the planner sees messages as it is when the first batch comes.
      const fresh = await createRepositoryDatabase();
      const config = { databasePoolSize: 1, databaseAcquireTimeoutMs: 5_000, databaseStatementTimeoutMs: 0 } as AppConfig;
      // One connection: the statements below are prepared on it, and EXPLAIN reads its plans.
      const pool = new DatabasePool({ url: fresh.db.url, embedded: false }, config);
      try {
        const repository = new MessageRepository(fresh.prisma, pool);
        const conversation = new ConversationRepository(fresh.prisma, pool);
        const [a, b] = await fresh.createFriends();
        const { id } = await conversation.ensureBetween(a, b);
        appended((await repository.appendBatch([message(id, a, b, 1)]))[0]);
        await repository.sendChecks([{ senderId: a, recipientId: b, clientMsgId: crypto.randomUUID() }]);
        // The plan a connection keeps for a prepared statement once it stops planning each run.
        await pool.query('SET plan_cache_mode = force_generic_plan');
        const explain = async (statement: string, params: number) => {
          const [row] = await pool.query<{ 'QUERY PLAN': [{ Plan: Record<string, unknown> }] }>(
            `EXPLAIN (FORMAT JSON) EXECUTE ${statement}(${Array(params).fill("'{}'").join(', ')})`,
          );
          return seqScanned(row['QUERY PLAN'][0].Plan);
        };
        // As joins, both read the whole table at every run until statistics caught up.
        expect(await explain('dm_append_batch', 10)).not.toContain('messages');
        expect(await explain('dm_send_checks', 3)).not.toContain('messages');
      } finally {
        await pool.end();
        await fresh.close();
      }
    });
  });
});
