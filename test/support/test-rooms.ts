import crypto from 'node:crypto';
import { Client } from 'pg';
import { MediaNodeHost, MediaService } from '@app/media';
import type { TestGateway } from './test-gateway';

/**
 * An active call between two users stored directly (no contacts, no
 * invite/accept) and its room opened on the gateway's own media node, for
 * tests of the media capability that do not depend on call signalling.
 */
export async function openTestRoom(
  gw: TestGateway,
  callerId: string,
  calleeId: string,
  media: 'audio' | 'video' = 'audio',
): Promise<string> {
  const callId = crypto.randomUUID();
  const nodeId = gw.get(MediaNodeHost).nodeId;
  const db = new Client({ connectionString: gw.db.url });
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query(
      `INSERT INTO calls (id, caller_id, callee_id, media, state, answered_at, media_node_id)
       VALUES ($1, $2, $3, $4, 'active', now(), $5)`,
      [callId, callerId, calleeId, media, nodeId],
    );
    await db.query('INSERT INTO call_slots (user_id, call_id) VALUES ($1, $3), ($2, $3)', [callerId, calleeId, callId]);
    await db.query('COMMIT');
  } finally {
    await db.end();
  }
  await gw.get(MediaService).openRoom(callId, media, [callerId, calleeId]);
  return callId;
}

/** Ends a call stored by openTestRoom (its room closed separately), freeing both users for the next one. */
export async function endTestCall(gw: TestGateway, callId: string): Promise<void> {
  const db = new Client({ connectionString: gw.db.url });
  await db.connect();
  try {
    await db.query(`UPDATE calls SET state = 'ended', ended_at = now(), end_reason = 'hangup' WHERE id = $1`, [callId]);
    await db.query('DELETE FROM call_slots WHERE call_id = $1', [callId]);
  } finally {
    await db.end();
  }
}
