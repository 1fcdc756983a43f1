import type { ContactDto, ConversationDto, MessageDto } from '@app/contracts';
import type { BlockRow } from './block.repository';
import type { ContactRow } from './contact.repository';
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

export function toContactDto(row: ContactRow): ContactDto {
  return { user: row.user, favorite: row.favorite, mutual: row.mutual, addedAt: row.addedAt.toISOString() };
}

/** An entry of GET /blocks. */
export interface BlockedUserDto {
  user: { id: string; handle: string; displayName: string };
  blockedAt: string;
}

export function toBlockedUserDto(row: BlockRow): BlockedUserDto {
  return { user: row.user, blockedAt: row.blockedAt.toISOString() };
}
