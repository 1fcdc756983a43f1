import { Client } from 'pg';
import type { AckedMessage } from './retrying-dm-sender';

export interface LedgerCheck {
  stored: number;
  /** Acknowledged messages missing from the database. */
  lost: string[];
  /** clientMsgIds stored more than once. */
  duplicated: string[];
  /** Conversations whose seq is not 1..n without gaps. */
  gapped: string[];
  /** Acks that disagree with the stored row (another id or seq for the same clientMsgId). */
  mismatched: string[];
}

/** Compares what clients were told (acks) with what the database holds for those conversations. */
export async function checkLedger(databaseUrl: string, acked: AckedMessage[]): Promise<LedgerCheck> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const conversations = [...new Set(acked.map((a) => a.conversationId))];
    const rows = (
      await c.query<{ id: string; conversation_id: string; seq: number; client_msg_id: string }>(
        `SELECT id, conversation_id, seq, client_msg_id FROM messages WHERE conversation_id = ANY($1::uuid[]) AND kind = 'text' ORDER BY conversation_id, seq`,
        [conversations],
      )
    ).rows;
    const all = (
      await c.query<{ conversation_id: string; seq: number }>(
        `SELECT conversation_id, seq FROM messages WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`,
        [conversations],
      )
    ).rows;
    const byClientId = new Map<string, typeof rows>();
    for (const r of rows) byClientId.set(r.client_msg_id, [...(byClientId.get(r.client_msg_id) ?? []), r]);
    const gapped = conversations.filter((id) => {
      const seqs = all.filter((r) => r.conversation_id === id).map((r) => r.seq);
      return seqs.some((s, i) => s !== i + 1);
    });
    return {
      stored: rows.length,
      lost: acked.filter((a) => !byClientId.has(a.clientMsgId)).map((a) => a.clientMsgId),
      duplicated: [...byClientId].filter(([, rs]) => rs.length > 1).map(([id]) => id),
      gapped,
      mismatched: acked
        .filter((a) => {
          const r = byClientId.get(a.clientMsgId)?.[0];
          return r !== undefined && (r.id !== a.id || r.seq !== a.seq);
        })
        .map((a) => a.clientMsgId),
    };
  } finally {
    await c.end();
  }
}
