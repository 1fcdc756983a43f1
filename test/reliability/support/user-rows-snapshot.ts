import { Client } from 'pg';

/**
 * Every stored row that belongs to a user (and the flag tables, which only
 * an admin may change), as canonical JSON, to compare before and after an
 * attack by someone else.
 */
export async function snapshotUserRows(databaseUrl: string, userId: string): Promise<Record<string, unknown[]>> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const q = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
    return {
      user: await q('SELECT * FROM users WHERE id = $1', [userId]),
      contacts: await q('SELECT * FROM contacts WHERE owner_id = $1 ORDER BY contact_id', [userId]),
      blocks: await q('SELECT * FROM blocks WHERE blocker_id = $1 ORDER BY blocked_id', [userId]),
      conversations: await q('SELECT * FROM conversations WHERE user_low_id = $1 OR user_high_id = $1 ORDER BY id', [userId]),
      memberships: await q('SELECT * FROM conversation_members WHERE user_id = $1 ORDER BY conversation_id', [userId]),
      messages: await q('SELECT * FROM messages WHERE sender_id = $1 OR recipient_id = $1 ORDER BY id', [userId]),
      calls: await q('SELECT * FROM calls WHERE caller_id = $1 OR callee_id = $1 ORDER BY id', [userId]),
      callSlots: await q('SELECT * FROM call_slots WHERE user_id = $1', [userId]),
      flags: await q('SELECT * FROM feature_flags ORDER BY key'),
      flagAudit: await q('SELECT id FROM feature_flag_audit ORDER BY id'),
    };
  } finally {
    await c.end();
  }
}
