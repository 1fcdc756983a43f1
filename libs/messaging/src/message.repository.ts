import { Injectable } from '@nestjs/common';
import { DatabasePool, PrismaService } from '@app/database';
import { blockedEitherWaySql } from '@app/relationships';
import { MessageRow, MessageSqlRow, messageColumns, toMessageRow } from './message-row';
import type { QueryResultRow } from 'pg';
import type { MessageKind } from '@app/contracts';

export type { MessageRow } from './message-row';

export interface NewMessage {
  conversationId: string;
  senderId: string;
  recipientId: string;
  clientMsgId: string;
  kind: MessageKind;
  body: string;
  callId?: string;
  /** The sender's clock; the stored time never goes below the conversation's previous message. */
  at: Date;
}

/**
 * The users whose rows an append locks, lowercased as ids are compared: its
 * sender's and recipient's (their conversation's row is the pair's).
 */
export function usersLockedBy(m: NewMessage): string[] {
  return [m.senderId.toLowerCase(), m.recipientId.toLowerCase()];
}

/** A send's idempotency key: (sender, clientMsgId), both uuids, so case does not matter. A resend has its first send's. */
export function resendKeyOf(m: { senderId: string; clientMsgId: string }): string {
  return `${m.senderId}:${m.clientMsgId}`.toLowerCase();
}

export type AppendResult = { stored: true; message: MessageRow } | { stored: false; message: MessageRow };

/** Why a checked append stored nothing: either user blocked the other, or the recipient does not exist. */
export type SendRefusal = 'blocked' | 'recipient_missing';

/** An append that also made the send's checks: stored, answered with the stored resend, or refused. */
export type CheckedAppendResult = AppendResult | { refused: SendRefusal };

export interface SendCheckRequest {
  senderId: string;
  recipientId: string;
  clientMsgId: string;
}

export interface SendChecks {
  /** Stored before under this sender's clientMsgId: the send is a resend. */
  earlier: MessageRow | null;
  recipientExists: boolean;
  blockedEitherWay: boolean;
}

/** Seen map of a sync cursor: conversationId -> highest seq the client has. */
export type SeenSeqs = Record<string, number>;

const MESSAGE_COLUMNS = messageColumns();

/** PostgreSQL's deadlock_detected, and how often a statement it cancelled is run again. */
const DEADLOCK_DETECTED = '40P01';
const DEADLOCK_ATTEMPTS = 3;

/**
 * The whole append as one autocommitted statement: lock both users (in id
 * order: every append locks users before conversations, so appends never
 * wait on each other in a cycle) and take the next position of each one's
 * inbox order, take the next seq (the UPDATE holds the conversation row's
 * lock until commit, so seqs commit in order), insert the message at that
 * seq and those positions, and move the sender's read mark. (The insert
 * trigger numbers only rows that come without positions.)
 * created_at is never earlier than the previous message's (ordering by time
 * keeps each conversation's seq order; dm:sync relies on it). A duplicate
 * (sender, clientMsgId) fails the statement with a unique violation, which
 * undoes the seq update too: no gap.
 */
const APPEND_SQL = `
  WITH u AS MATERIALIZED (
    SELECT id, inbox_seq FROM users WHERE id IN ($2::uuid, $3::uuid) ORDER BY id FOR NO KEY UPDATE
  ), c AS (
    UPDATE conversations
       SET last_seq = last_seq + 1,
           last_message_at = GREATEST(last_message_at, $7::timestamptz)
     WHERE id = $1::uuid AND (SELECT count(*) FROM u) >= 0
 RETURNING id, last_seq, last_message_at
  ), m AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, kind, body, call_id, created_at,
                          sender_inbox_seq, recipient_inbox_seq)
    SELECT gen_random_uuid(), c.id, c.last_seq, $2::uuid, $3::uuid, $4::uuid, $5::message_kind, $6, $8::uuid, c.last_message_at,
           (SELECT inbox_seq + 1 FROM u WHERE id = $2::uuid), (SELECT inbox_seq + 1 FROM u WHERE id = $3::uuid)
      FROM c
 RETURNING ${MESSAGE_COLUMNS}
  ), uu AS (
    UPDATE users
       SET inbox_seq = u.inbox_seq + 1
      FROM u
     WHERE users.id = u.id AND EXISTS (SELECT 1 FROM m)
  ), r AS (
    UPDATE conversation_members cm
       SET last_read_seq = GREATEST(cm.last_read_seq, c.last_seq)
      FROM c
     WHERE cm.conversation_id = c.id AND cm.user_id = $2::uuid
  )
  SELECT * FROM m`;

/**
 * Several appends in one autocommitted statement: one round trip and one WAL
 * flush for all of them. The batch's users are locked first, then its
 * conversations, each in id order (the lock is taken in the sorted order),
 * so two batches (of this or another process) or a batch and a single append
 * never wait on each other in a cycle. Each message takes the next positions
 * of its sender's and its recipient's inbox order, in input order. The locked rows are read as they are after any append that
 * committed while this one waited, so each conversation's messages are
 * numbered after its current last_seq, in input order, with created_at never
 * below the previous message's; each sender's read mark moves with them. A
 * message whose (sender, clientMsgId) is stored already (a resend that passed
 * its check while the first was being written) is left out and takes no seq;
 * one stored by another process while this statement waited fails it with a
 * unique violation, and nothing of the batch is stored. So is a message to a
 * recipient that does not exist or between users either of whom blocked the
 * other: the send's checks are made here, in the statement that stores it.
 * (Exported for bench/diagnostics/message-insert-cost.ts, which measures its parts.)
 */
export const APPEND_BATCH_SQL = `
  WITH users_locked AS MATERIALIZED (
    SELECT id, inbox_seq FROM users WHERE id = ANY($10::uuid[]) ORDER BY id FOR NO KEY UPDATE
  ), locked AS MATERIALIZED (
    SELECT id, last_seq, last_message_at
      FROM conversations
     WHERE id = ANY($9::uuid[]) AND (SELECT count(*) FROM users_locked) >= 0
     ORDER BY id
       FOR NO KEY UPDATE
  ), batch_blocks AS MATERIALIZED (
    -- The blocks among the batch's users, read once: a probe of blocks per message was a tenth of the statement's cost.
    SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = ANY($10::uuid[]) AND blocked_id = ANY($10::uuid[])
  ), input AS (
    SELECT *
      FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::uuid[])
           WITH ORDINALITY AS t (conversation_id, sender_id, recipient_id, client_msg_id, kind, body, at, call_id, ord)
     -- OFFSET 0 keeps this a probe of the (sender, clientMsgId) key per message. As an anti-join it was
     -- planned by the table's size: a prepared statement's plan made while messages was small (a new
     -- database) hashed the whole table at every batch until statistics caught up, each batch slower
     -- than the last.
     WHERE NOT EXISTS (SELECT 1 FROM messages e WHERE e.sender_id = t.sender_id AND e.client_msg_id = t.client_msg_id OFFSET 0)
       -- The send's checks, made here instead of in a query before (sendChecks says which one refused a message).
       AND EXISTS (SELECT 1 FROM users_locked ul WHERE ul.id = t.recipient_id)
       AND NOT ${blockedEitherWaySql('t.sender_id', 't.recipient_id', 'batch_blocks')}
  ), numbered AS (
    SELECT i.*,
           c.last_seq + row_number() OVER w AS seq,
           GREATEST(c.last_message_at, max(i.at) OVER w)::timestamptz(3) AS created_at
      FROM input i
      JOIN locked c ON c.id = i.conversation_id
     -- A vanished conversation stores nothing of the batch (its messages are then appended one by one).
     WHERE (SELECT count(*) FROM locked) = cardinality($9::uuid[])
    WINDOW w AS (PARTITION BY i.conversation_id ORDER BY i.ord)
  ), positions AS (
    -- Each message's place in its sender's and its recipient's inbox order, in input order (so with each conversation's seqs).
    SELECT p.ord, p.role, p.user_id, ul.inbox_seq + row_number() OVER (PARTITION BY p.user_id ORDER BY p.ord) AS pos
      FROM (SELECT ord, 's' AS role, sender_id AS user_id FROM numbered
            UNION ALL
            SELECT ord, 'r', recipient_id FROM numbered) AS p
      JOIN users_locked ul ON ul.id = p.user_id
  ), m AS (
    INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, kind, body, call_id, created_at,
                          sender_inbox_seq, recipient_inbox_seq)
    SELECT gen_random_uuid(), n.conversation_id, n.seq, n.sender_id, n.recipient_id, n.client_msg_id, n.kind::message_kind, n.body,
           n.call_id, n.created_at, s.pos, r.pos
      FROM numbered n
      JOIN positions s ON s.ord = n.ord AND s.role = 's'
      JOIN positions r ON r.ord = n.ord AND r.role = 'r'
 RETURNING ${MESSAGE_COLUMNS}
  ), u AS (
    UPDATE users
       SET inbox_seq = x.top
      FROM (SELECT user_id, max(pos) AS top FROM positions GROUP BY user_id) x
     -- The batch's keys restate which rows these are, so they can be reached by key rather than by joining the
     -- table (conversations' plan on an empty database; users are planned by their size, signed up before they send).
     WHERE users.id = x.user_id AND users.id = ANY($10::uuid[])
  ), c AS (
    UPDATE conversations c
       SET last_seq = x.last_seq, last_message_at = x.last_message_at
      FROM (SELECT conversation_id, max(seq) AS last_seq, max(created_at) AS last_message_at
              FROM numbered GROUP BY conversation_id) x
     WHERE c.id = x.conversation_id AND c.id = ANY($9::uuid[])
  ), r AS (
    UPDATE conversation_members cm
       SET last_read_seq = GREATEST(cm.last_read_seq, x.seq)
      FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM numbered GROUP BY conversation_id, sender_id) x
     WHERE cm.conversation_id = x.conversation_id AND cm.user_id = x.sender_id
  )
  SELECT * FROM m`;

const DUPLICATE_CLIENT_MSG_ID = 'messages_sender_id_client_msg_id_key';

/** Messages: the only writer of seq. */
@Injectable()
export class MessageRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  async findBySenderAndClientMsgId(senderId: string, clientMsgId: string): Promise<MessageRow | null> {
    const [row] = await this.sql.query<MessageSqlRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1::uuid AND client_msg_id = $2::uuid`,
      [senderId, clientMsgId],
    );
    return row ? toMessageRow(row) : null;
  }

  /**
   * What each send checks before it appends, in one round trip for all of
   * them: the message the sender already stored under clientMsgId, whether
   * the recipient exists, and whether either blocked the other.
   */
  async sendChecks(requests: SendCheckRequest[]): Promise<SendChecks[]> {
    const rows = await this.prepared<Partial<MessageSqlRow> & { recipient_exists: boolean; blocked: boolean }>(
      'dm_send_checks',
      // Each lookup is a probe of a key per request (LIMIT and OFFSET 0 keep the planner from
      // turning them into joins): see APPEND_BATCH_SQL on plans made while the tables were small.
      `SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = i.recipient_id OFFSET 0) AS recipient_exists,
              ${blockedEitherWaySql('i.sender_id', 'i.recipient_id')} AS blocked,
              ${messageColumns('e')}
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS i (sender_id, recipient_id, client_msg_id, ord)
         LEFT JOIN LATERAL (
           SELECT * FROM messages m WHERE m.sender_id = i.sender_id AND m.client_msg_id = i.client_msg_id LIMIT 1
         ) e ON true
        ORDER BY i.ord`,
      [requests.map((r) => r.senderId), requests.map((r) => r.recipientId), requests.map((r) => r.clientMsgId)],
    );
    return rows.map((row) => ({
      earlier: row.id ? toMessageRow(row as MessageSqlRow) : null,
      recipientExists: row.recipient_exists,
      blockedEitherWay: row.blocked,
    }));
  }

  /**
   * Stores a message with the conversation's next seq, or returns the stored
   * one when (sender, clientMsgId) exists already (then no seq is used).
   */
  async appendWithNextSeq(m: NewMessage): Promise<AppendResult> {
    try {
      const [row] = await this.prepared<MessageSqlRow>('dm_append', APPEND_SQL, [
        m.conversationId,
        m.senderId,
        m.recipientId,
        m.clientMsgId,
        m.kind,
        m.body,
        m.at,
        m.callId ?? null,
      ]);
      if (!row) throw new Error(`conversation ${m.conversationId} vanished`);
      return { stored: true, message: toMessageRow(row) };
    } catch (err) {
      if (!isUniqueViolationOf(err, DUPLICATE_CLIENT_MSG_ID)) throw err;
      // The other insert has committed (the unique check waited for it), so it is visible now.
      const existing = await this.findBySenderAndClientMsgId(m.senderId, m.clientMsgId);
      if (!existing) throw new Error('duplicate clientMsgId reported but no stored message found');
      return { stored: false, message: existing };
    }
  }

  /**
   * Stores every new message or none (throws): one transaction, gapless
   * seqs per conversation in input order. A message already stored under its
   * (sender, clientMsgId) is answered with the stored row. The caller keeps
   * (sender, clientMsgId) unique within a batch.
   */
  async appendBatch(batch: NewMessage[]): Promise<CheckedAppendResult[]> {
    const conversationIds = [...new Set(batch.map((m) => m.conversationId))].sort();
    const inserted = await this.prepared<MessageSqlRow>('dm_append_batch', APPEND_BATCH_SQL, [
      batch.map((m) => m.conversationId),
      batch.map((m) => m.senderId),
      batch.map((m) => m.recipientId),
      batch.map((m) => m.clientMsgId),
      batch.map((m) => m.kind),
      batch.map((m) => m.body),
      batch.map((m) => m.at),
      batch.map((m) => m.callId ?? null),
      conversationIds,
      [...new Set(batch.flatMap(usersLockedBy))].sort(),
    ]);
    const results = new Map<string, CheckedAppendResult>();
    for (const r of inserted)
      results.set(resendKeyOf({ senderId: r.sender_id, clientMsgId: r.client_msg_id }), { stored: true, message: toMessageRow(r) });
    if (inserted.length < batch.length) {
      // Left out: a resend (answered with the stored row), a refused send, or a vanished conversation.
      const left = batch.filter((m) => !results.has(resendKeyOf(m)));
      const checks = await this.sendChecks(left);
      left.forEach((m, i) => {
        const { earlier } = checks[i];
        // Nothing explains it while the rest of the batch was stored (so no conversation vanished): a block lifted since.
        const refusal = sendRefusalOf(checks[i]) ?? (inserted.length > 0 ? 'blocked' : undefined);
        const result: CheckedAppendResult | undefined = earlier ? { stored: false, message: earlier } : refusal && { refused: refusal };
        if (result) results.set(resendKeyOf(m), result);
      });
    }
    return batch.map((m) => {
      const result = results.get(resendKeyOf(m));
      // A conversation vanished: nothing was stored, and the batcher appends each message on its own.
      if (!result) throw new Error('a message of the batch was neither stored nor found');
      return result;
    });
  }

  /** One send's checks, then its append (the batch's statement makes them itself; this is the one-by-one path). */
  async appendChecked(m: NewMessage): Promise<CheckedAppendResult> {
    const [checks] = await this.sendChecks([m]);
    if (checks.earlier) return { stored: false, message: checks.earlier };
    const refusal = sendRefusalOf(checks);
    return refusal ? { refused: refusal } : this.appendWithNextSeq(m);
  }

  /**
   * The send path's statements are named, so each pooled connection parses
   * and plans them once instead of on every batch (the database shares the
   * gateway's cores).
   */
  private async prepared<R extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    // Each is one autocommitted statement: one PostgreSQL chose as a deadlock victim did nothing,
    // so it is run again (appends lock users, then conversations, in id order; a cycle needs a
    // statement from elsewhere, such as an earlier version's during a rolling upgrade).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sql.named<R>(name, text, values);
      } catch (err) {
        if ((err as { code?: string }).code !== DEADLOCK_DETECTED || attempt >= DEADLOCK_ATTEMPTS) throw err;
      }
    }
  }

  /** Newest first, seq < beforeSeq. */
  page(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<MessageRow[]> {
    return this.prisma.message.findMany({
      where: { conversationId, ...(beforeSeq === undefined ? {} : { seq: { lt: beforeSeq } }) },
      orderBy: { seq: 'desc' },
      take: limit,
    });
  }

  /**
   * The user's inbox (messages sent and received, every conversation) after
   * `position`, in inbox order. Positions commit in order and without gaps
   * (each is taken under the user's row lock), so a page cut anywhere never
   * skips a message; each side is one range scan of its index.
   */
  async inboxAfter(userId: string, position: number, limit: number): Promise<InboxRow[]> {
    const rows = await this.prepared<MessageSqlRow & { position: number }>(
      'dm_inbox_after',
      `SELECT * FROM (
         (SELECT ${MESSAGE_COLUMNS}, sender_inbox_seq AS position FROM messages
           WHERE sender_id = $1::uuid AND sender_inbox_seq > $2 ORDER BY sender_inbox_seq LIMIT $3)
         UNION ALL
         (SELECT ${MESSAGE_COLUMNS}, recipient_inbox_seq AS position FROM messages
           WHERE recipient_id = $1::uuid AND recipient_inbox_seq > $2 ORDER BY recipient_inbox_seq LIMIT $3)
       ) AS inbox
       ORDER BY position
       LIMIT $3`,
      [userId, position, limit],
    );
    return rows.map((r) => ({ ...toMessageRow(r), position: Number(r.position) }));
  }

  /** The last position of the user's inbox that is committed: every message at or before it is visible. */
  async inboxTop(userId: string): Promise<number> {
    const [row] = await this.sql.query<{ inbox_seq: number }>(`SELECT inbox_seq FROM users WHERE id = $1::uuid`, [userId]);
    return row ? Number(row.inbox_seq) : 0;
  }

  /**
   * A cursor of the previous format (the highest seq seen per conversation):
   * the user's messages not seen yet, in inbox order. Read once per client
   * that still holds such a cursor; the page's last position is its next cursor.
   */
  async inboxUnseen(userId: string, seen: SeenSeqs, limit: number): Promise<InboxRow[]> {
    const rows = await this.sql.query<MessageSqlRow & { position: number }>(
      `SELECT ${MESSAGE_COLUMNS}, position FROM (
         SELECT m.*, CASE WHEN m.sender_id = $1::uuid THEN m.sender_inbox_seq ELSE m.recipient_inbox_seq END AS position
           FROM messages m
          WHERE (m.sender_id = $1::uuid OR m.recipient_id = $1::uuid)
            AND m.seq > COALESCE(($2::jsonb ->> m.conversation_id::text)::int, 0)
       ) AS unseen
       ORDER BY position
       LIMIT $3`,
      [userId, JSON.stringify(seen), limit],
    );
    return rows.map((r) => ({ ...toMessageRow(r), position: Number(r.position) }));
  }
}

/** A message with its position in one user's inbox order. */
export type InboxRow = MessageRow & { position: number };

function isUniqueViolationOf(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && e.constraint === constraint;
}

/** What the checks refuse a send for (a missing recipient before a block), if anything; a resend is answered before either. */
export function sendRefusalOf(checks: SendChecks): SendRefusal | undefined {
  if (!checks.recipientExists) return 'recipient_missing';
  if (checks.blockedEitherWay) return 'blocked';
  return undefined;
}
