import { Injectable } from '@nestjs/common';
import { PrismaService } from '@app/database';
import type { MessageDto, MessageKind } from '@app/contracts';

export interface MessageRow {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  recipientId: string;
  clientMsgId: string;
  kind: MessageKind;
  body: string;
  callId: string | null;
  createdAt: Date;
}

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

export type AppendResult = { stored: true; message: MessageRow } | { stored: false; message: MessageRow };

/** Seen map of a sync cursor: conversationId -> highest seq the client has. */
export type SeenSeqs = Record<string, number>;

export function toMessageDto(row: MessageRow): MessageDto {
  const dto: MessageDto = {
    id: row.id,
    conversationId: row.conversationId,
    senderId: row.senderId,
    recipientId: row.recipientId,
    seq: row.seq,
    body: row.body,
    clientMsgId: row.clientMsgId,
    createdAt: row.createdAt.toISOString(),
    kind: row.kind,
  };
  if (row.callId) dto.callId = row.callId;
  return dto;
}

/** Raised inside the append transaction to undo the seq it took. */
class DuplicateClientMsgId extends Error {}

// Interactive transactions wait for a pooled connection and for the
// conversation's row lock; many concurrent senders into one conversation
// queue on that lock, so the defaults (2 s / 5 s) are too short.
const APPEND_TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 };

/** Messages: the only writer of seq. */
@Injectable()
export class MessageRepository {
  constructor(private readonly prisma: PrismaService) {}

  findBySenderAndClientMsgId(senderId: string, clientMsgId: string): Promise<MessageRow | null> {
    return this.prisma.message.findUnique({ where: { senderId_clientMsgId: { senderId, clientMsgId } } });
  }

  /**
   * Stores a message with the conversation's next seq, or returns the stored
   * one when (sender, clientMsgId) exists already. The UPDATE takes the
   * conversation row's lock until commit, so seqs are gapless and commit in
   * order; a duplicate rolls the whole transaction back, so it leaves no gap.
   * created_at is never earlier than the previous message's, so ordering by
   * time keeps each conversation's seq order (dm:sync relies on it).
   */
  async appendWithNextSeq(m: NewMessage): Promise<AppendResult> {
    try {
      const message = await this.prisma.$transaction(async (tx) => {
        const [conv] = await tx.$queryRaw<{ last_seq: number; last_message_at: Date }[]>`
          UPDATE conversations
             SET last_seq = last_seq + 1,
                 last_message_at = GREATEST(last_message_at, ${m.at}::timestamptz)
           WHERE id = ${m.conversationId}::uuid
       RETURNING last_seq, last_message_at`;
        if (!conv) throw new Error(`conversation ${m.conversationId} vanished`);
        const inserted = await tx.$queryRaw<{ id: string }[]>`
          INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, client_msg_id, kind, body, call_id, created_at)
          VALUES (gen_random_uuid(), ${m.conversationId}::uuid, ${conv.last_seq}, ${m.senderId}::uuid,
                  ${m.recipientId}::uuid, ${m.clientMsgId}::uuid, ${m.kind}::message_kind, ${m.body},
                  ${m.callId ?? null}::uuid, ${conv.last_message_at})
          ON CONFLICT (sender_id, client_msg_id) DO NOTHING
          RETURNING id`;
        if (inserted.length === 0) throw new DuplicateClientMsgId();
        // The sender has read everything up to their own message.
        await tx.$executeRaw`
          UPDATE conversation_members SET last_read_seq = GREATEST(last_read_seq, ${conv.last_seq})
           WHERE conversation_id = ${m.conversationId}::uuid AND user_id = ${m.senderId}::uuid`;
        return tx.message.findUniqueOrThrow({ where: { id: inserted[0].id } });
      }, APPEND_TX_OPTIONS);
      return { stored: true, message };
    } catch (err) {
      if (!(err instanceof DuplicateClientMsgId)) throw err;
      // The other insert has committed (ON CONFLICT waited for it), so it is visible now.
      const existing = await this.findBySenderAndClientMsgId(m.senderId, m.clientMsgId);
      if (!existing) throw new Error('duplicate clientMsgId reported but no stored message found');
      return { stored: false, message: existing };
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
   * Messages of every conversation the user is in, after the seq already
   * seen in each, oldest first. Any prefix of this order is, per
   * conversation, a run of consecutive seqs starting right after the seen
   * one, so a page cut by `limit` never skips a message.
   */
  async after(userId: string, seen: SeenSeqs, limit: number): Promise<MessageRow[]> {
    const rows = await this.prisma.$queryRaw<RawMessage[]>`
      SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.recipient_id, m.client_msg_id,
             m.kind::text AS kind, m.body, m.call_id, m.created_at
        FROM conversation_members cm
        JOIN messages m ON m.conversation_id = cm.conversation_id
       WHERE cm.user_id = ${userId}::uuid
         AND m.seq > COALESCE((${JSON.stringify(seen)}::jsonb ->> m.conversation_id::text)::int, 0)
       ORDER BY m.created_at, m.conversation_id, m.seq
       LIMIT ${limit}`;
    return rows.map(fromRaw);
  }

  findBySeq(conversationId: string, seq: number): Promise<MessageRow | null> {
    return this.prisma.message.findUnique({ where: { conversationId_seq: { conversationId, seq } } });
  }
}

export interface RawMessage {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  recipient_id: string;
  client_msg_id: string;
  kind: string;
  body: string;
  call_id: string | null;
  created_at: Date;
}

export function fromRaw(r: RawMessage): MessageRow {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    seq: Number(r.seq),
    senderId: r.sender_id,
    recipientId: r.recipient_id,
    clientMsgId: r.client_msg_id,
    kind: r.kind as MessageKind,
    body: r.body,
    callId: r.call_id,
    createdAt: new Date(r.created_at),
  };
}
