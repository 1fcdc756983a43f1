import { Injectable } from '@nestjs/common';
import { DatabasePool, Prisma, PrismaService } from '@app/database';
import { MessageRow, MessageSqlRow, messageColumns, toMessageRow } from './message-row';

export interface ConversationRow {
  id: string;
  userLowId: string;
  userHighId: string;
  lastSeq: number;
}

export interface ConversationSummaryRow {
  id: string;
  peer: { id: string; handle: string; displayName: string };
  lastMessage: MessageRow | null;
  unread: number;
}

/**
 * The pair's order in the table: the lower id first, so a pair has one row.
 * Ids are compared as PostgreSQL orders uuids, so in lower case (clients may
 * send upper case).
 */
export function orderedPair(a: string, b: string): { userLowId: string; userHighId: string } {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x < y ? { userLowId: x, userHighId: y } : { userLowId: y, userHighId: x };
}

/** A conversation's identity: what never changes after it is created. */
export interface ConversationRef {
  id: string;
  userLowId: string;
  userHighId: string;
}

// Remembered pairs per process: about 200 bytes each, oldest forgotten first.
const KNOWN_PAIRS_MAX = 100_000;

/** Conversations and their members' read marks. */
@Injectable()
export class ConversationRepository {
  private readonly knownPairs = new Map<string, ConversationRef>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  /** The pair's conversation when this process already knows it (no query). */
  knownBetween(a: string, b: string): ConversationRef | undefined {
    const { userLowId, userHighId } = orderedPair(a, b);
    return this.knownPairs.get(pairKey(userLowId, userHighId));
  }

  /**
   * The pair's conversation, created with both members on first use (safe
   * under races). A pair's conversation id never changes and conversations
   * are never deleted (nothing cascades into them), so it is remembered per
   * process. On a miss the lookup is a plain read, which never waits on the
   * row lock a concurrent append holds; only a missing conversation or
   * member is written. Plain SQL on the shared pool: every call's end and
   * every first message of a pair comes here.
   */
  async ensureBetween(a: string, b: string): Promise<ConversationRef> {
    const { userLowId, userHighId } = orderedPair(a, b);
    const key = pairKey(userLowId, userHighId);
    const known = this.knownPairs.get(key);
    if (known) return known;
    const [found] = await this.sql.named<{ id: string; members: number }>(
      'conversation_between',
      `SELECT c.id, (SELECT count(*)::int FROM conversation_members cm WHERE cm.conversation_id = c.id) AS members
         FROM conversations c
        WHERE c.user_low_id = $1::uuid AND c.user_high_id = $2::uuid`,
      [userLowId, userHighId],
    );
    let id = found?.id;
    if (!id || found.members < 2) {
      // One statement, so a conversation is never visible without its members.
      // A concurrent creator makes the insert a no-op (it waits for its commit),
      // and the members are then added by whoever is missing them.
      const [created] = await this.sql.named<{ id: string }>(
        'conversation_create_between',
        `WITH c AS (
           INSERT INTO conversations (id, user_low_id, user_high_id)
           VALUES (gen_random_uuid(), $1::uuid, $2::uuid)
           ON CONFLICT (user_low_id, user_high_id) DO UPDATE SET last_seq = conversations.last_seq
           RETURNING id
         ), m AS (
           INSERT INTO conversation_members (conversation_id, user_id)
           SELECT c.id, u.user_id FROM c, (VALUES ($1::uuid), ($2::uuid)) AS u (user_id)
           ON CONFLICT DO NOTHING
         )
         SELECT id FROM c`,
        [userLowId, userHighId],
      );
      id = created.id;
    }
    const ref = { id, userLowId, userHighId };
    if (this.knownPairs.size >= KNOWN_PAIRS_MAX) this.knownPairs.delete(this.knownPairs.keys().next().value!);
    this.knownPairs.set(key, ref);
    return ref;
  }

  /** The conversation when the user is one of its two participants, else null. */
  findForParticipant(conversationId: string, userId: string): Promise<ConversationRow | null> {
    return this.prisma.conversation.findFirst({
      where: { id: conversationId, OR: [{ userLowId: userId }, { userHighId: userId }] },
    });
  }

  /**
   * Moves the user's read mark forward to `upToSeq` (capped at the newest
   * message). Returns the new mark, or null when it was already there or past.
   */
  async advanceReadMark(conversationId: string, userId: string, upToSeq: number): Promise<number | null> {
    const rows = await this.prisma.$queryRaw<{ last_read_seq: number }[]>`
      UPDATE conversation_members cm
         SET last_read_seq = LEAST(${upToSeq}, c.last_seq)
        FROM conversations c
       WHERE c.id = cm.conversation_id
         AND cm.conversation_id = ${conversationId}::uuid
         AND cm.user_id = ${userId}::uuid
         AND cm.last_read_seq < LEAST(${upToSeq}, c.last_seq)
   RETURNING cm.last_read_seq`;
    return rows.length > 0 ? Number(rows[0].last_read_seq) : null;
  }

  /** The user's conversations that have messages, most recent first, with the last message and unread count. */
  async summariesFor(userId: string, page: { offset: number; limit: number }): Promise<ConversationSummaryRow[]> {
    const rows = await this.prisma.$queryRaw<
      (Partial<MessageSqlRow> & {
        conv_id: string;
        unread: number;
        peer_id: string;
        peer_handle: string;
        peer_display_name: string;
      })[]
    >`
      SELECT c.id AS conv_id, (c.last_seq - cm.last_read_seq) AS unread,
             u.id AS peer_id, u.handle AS peer_handle, u.display_name AS peer_display_name,
             ${Prisma.raw(messageColumns('m'))}
        FROM conversation_members cm
        JOIN conversations c ON c.id = cm.conversation_id
        JOIN users u ON u.id = CASE WHEN c.user_low_id = cm.user_id THEN c.user_high_id ELSE c.user_low_id END
        LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq
       WHERE cm.user_id = ${userId}::uuid AND c.last_seq > 0
       ORDER BY c.last_message_at DESC NULLS LAST, c.id
       LIMIT ${page.limit} OFFSET ${page.offset}`;
    return rows.map((r) => ({
      id: r.conv_id,
      peer: { id: r.peer_id, handle: r.peer_handle, displayName: r.peer_display_name },
      lastMessage: r.id ? toMessageRow(r as MessageSqlRow) : null,
      unread: Number(r.unread),
    }));
  }
}

/** The key a pair's conversation is remembered under (the ids of orderedPair). */
function pairKey(userLowId: string, userHighId: string): string {
  return `${userLowId}:${userHighId}`;
}
