import type { MessageKind } from '@app/contracts';

/** A `messages` row, as the messaging capability works with it. */
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

/** A `messages` row as hand-written SQL selects it with `messageColumns()`. */
export interface MessageSqlRow {
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

const COLUMNS = [
  'id',
  'conversation_id',
  'seq',
  'sender_id',
  'recipient_id',
  'client_msg_id',
  'kind',
  'body',
  'call_id',
  'created_at',
] as const;

/** The select list every hand-written message query uses; `alias` qualifies the columns (e.g. "m"). */
export function messageColumns(alias?: string): string {
  const q = alias ? `${alias}.` : '';
  return COLUMNS.map((c) => (c === 'kind' ? `${q}kind::text AS kind` : `${q}${c}`)).join(', ');
}

export function toMessageRow(r: MessageSqlRow): MessageRow {
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
