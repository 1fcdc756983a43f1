import type { ConversationDto, MessageDto } from '@app/contracts';
import type { ConversationSummaryRow } from './conversation.repository';
import type { MessageRow } from './message.repository';

/** The protocol's shapes of the messaging capability, made only here from its repositories' rows. */

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

export function toConversationDto(row: ConversationSummaryRow): ConversationDto {
  return {
    id: row.id,
    peer: row.peer,
    lastMessage: row.lastMessage ? toMessageDto(row.lastMessage) : null,
    unread: row.unread,
  };
}
