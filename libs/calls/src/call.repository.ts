import crypto from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { CallEndReason, CallMedia, CallState, MediaStatsDto } from '@app/contracts';
import { DatabasePool, PrismaService } from '@app/database';
import { blockedEitherWaySql, mutualContactsSql } from '@app/relationships';
import { armTimersSql, disarmTimersSql, TimerChanges, timerChangeParams } from '@app/scheduler';
import { callRecord, CallRecord } from './call-record';

export interface NewCall {
  callerId: string;
  calleeId: string;
  media: CallMedia;
  createdAt: Date;
  ringEndsAt: Date;
}

export interface CallEnd {
  endedAt: Date;
  endReason: CallEndReason;
  endedById: string | null;
}

/** Why an invite stored nothing: the callee is unknown, a block, not contacts both ways, video not allowed, or a live call. */
export type InviteRefusal = 'no_such_user' | 'blocked' | 'not_friends' | 'video_disabled' | 'busy';

/** NOTIFY channel: a call ended or its room moved (processes caching calls drop it). */
export const CALL_CHANGED_CHANNEL = 'call_changed';

const LIVE_STATES: CallState[] = ['ringing', 'active'];

// The calls row as a CallRecord; `c` is the calls table.
const COLUMNS = `c.id, c.caller_id AS "callerId", c.callee_id AS "calleeId", c.media, c.state,
  c.created_at AS "createdAt", c.ring_ends_at AS "ringEndsAt", c.answered_at AS "answeredAt",
  c.max_ends_at AS "maxEndsAt", c.warned_at AS "warnedAt", c.ended_at AS "endedAt",
  c.end_reason AS "endReason", c.ended_by_id AS "endedById", c.media_stats AS "mediaStats",
  c.media_node_id AS "mediaNodeId"`;

const NO_TIMERS_CHANGES: TimerChanges = { queue: '', arm: [], disarm: [] };
const NO_TIMERS = (): TimerChanges => NO_TIMERS_CHANGES;

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23505' && e.constraint === constraint;
}

/**
 * The calls aggregate in PostgreSQL. Every state change is a conditional
 * update (WHERE state = ...), so of two actors or timers racing for one call
 * exactly one changes it; the loser gets null.
 *
 * The call's own hot paths (invite, answer, end, the lookups of every media
 * request) are plain SQL on the shared pool, each a single statement where
 * it can be: a Prisma query costs about 0.5 ms of client-engine CPU before
 * it reaches the database, and an interactive Prisma transaction holds its
 * connection across several of them.
 */
@Injectable()
export class CallRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  /**
   * Checks who may call whom and stores the ringing call with both
   * participants' slots and `timers(call)` (its ring timeout) in one
   * statement, so the call and its timer commit together without a
   * transaction around them. The slot's primary key (user id) lets a user
   * hold one live call: when either already has one, the statement fails as
   * a whole and 'busy' comes back. `videoAllowed` is the flag's answer (false
   * refuses), reported after the checks stored here, which come first.
   */
  async createRinging(
    input: NewCall & { videoAllowed: boolean },
    timers: (call: CallRecord) => TimerChanges = NO_TIMERS,
  ): Promise<CallRecord | InviteRefusal> {
    const id = crypto.randomUUID();
    // Slots in one order (by user id) whoever calls whom: two users calling each other at
    // the same moment then meet on the first slot (the second waits for the first to commit
    // and is busy) instead of each holding one slot and waiting for the other's (a deadlock).
    const slotUsers = [input.callerId, input.calleeId].sort();
    const { callerId, calleeId, media, createdAt, ringEndsAt } = input;
    const changes = timers(callRecord({ id, state: 'ringing', callerId, calleeId, media, createdAt, ringEndsAt }));
    const timerParams = timerChangeParams(changes);
    let rows: CreatedRow[];
    try {
      rows = await this.sql.named<CreatedRow>(
        'call_create_ringing',
        `WITH checks AS (
           SELECT EXISTS (SELECT 1 FROM users WHERE id = $2) AS "calleeExists",
                  ${blockedEitherWaySql('$1', '$2')} AS blocked,
                  ${mutualContactsSql('$1', '$2')} AS mutual
         ), created AS (
           INSERT INTO calls AS c (id, caller_id, callee_id, media, state, created_at, ring_ends_at)
           SELECT $3, $1, $2, $4::call_media, 'ringing', $5, $6 FROM checks
            WHERE "calleeExists" AND NOT blocked AND mutual AND $7::boolean
           RETURNING ${COLUMNS}
         ), slots AS (
           INSERT INTO call_slots (user_id, call_id)
           SELECT u.id, created.id FROM created, unnest($8::uuid[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n
         ), timers AS (
           ${armTimersSql('$9', '$10', 'created')}
         )
         SELECT checks.*, created.* FROM checks LEFT JOIN created ON true`,
        [
          input.callerId,
          input.calleeId,
          id,
          input.media,
          input.createdAt,
          input.ringEndsAt,
          input.videoAllowed,
          slotUsers,
          changes.queue,
          timerParams.arm,
        ],
      );
    } catch (err) {
      // A participant's slot is taken: nothing of the statement was stored.
      if (isUniqueViolation(err, 'call_slots_pkey')) return 'busy';
      throw err;
    }
    const { calleeExists, blocked, mutual, ...call } = rows[0];
    if (!calleeExists) return 'no_such_user';
    if (blocked) return 'blocked';
    if (!mutual) return 'not_friends';
    if (!input.videoAllowed) return 'video_disabled';
    return call as CallRecord;
  }

  async findById(id: string): Promise<CallRecord | null> {
    const rows = await this.sql.named<CallRecord>('call_by_id', `SELECT ${COLUMNS} FROM calls c WHERE c.id = $1`, [id]);
    return rows[0] ?? null;
  }

  /** The ringing call from caller to callee, if any (glare detection). */
  async findRinging(callerId: string, calleeId: string): Promise<CallRecord | null> {
    const rows = await this.sql.named<CallRecord>(
      'call_ringing_between',
      `SELECT ${COLUMNS} FROM calls c WHERE c.caller_id = $1 AND c.callee_id = $2 AND c.state = 'ringing' LIMIT 1`,
      [callerId, calleeId],
    );
    return rows[0] ?? null;
  }

  /** The ringing or active call the user takes part in, if any. */
  async liveCallOf(userId: string): Promise<CallRecord | null> {
    const rows = await this.sql.named<CallRecord>(
      'call_live_of_user',
      `SELECT ${COLUMNS} FROM call_slots s JOIN calls c ON c.id = s.call_id
        WHERE s.user_id = $1 AND c.state = ANY($2::call_state[])`,
      [userId, LIVE_STATES],
    );
    return rows[0] ?? null;
  }

  /**
   * ringing → active, with its cap and the media node chosen for its room
   * stored alongside and `timers` (its cap armed, its ring timeout removed)
   * in the same statement. Null when the call was no longer ringing.
   */
  async markActive(id: string, answeredAt: Date, maxEndsAt: Date, mediaNodeId: string, timers: TimerChanges): Promise<CallRecord | null> {
    const timerParams = timerChangeParams(timers);
    const rows = await this.sql.named<CallRecord>(
      'call_mark_active',
      `WITH answered AS (
         UPDATE calls AS c SET state = 'active', answered_at = $2, max_ends_at = $3, media_node_id = $4
          WHERE c.id = $1 AND c.state = 'ringing'
          RETURNING ${COLUMNS}
       ), armed AS (
         ${armTimersSql('$5', '$6', 'answered')}
       ), disarmed AS (
         ${disarmTimersSql('$5', '$7', 'answered')}
       )
       SELECT * FROM answered`,
      [id, answeredAt, maxEndsAt, mediaNodeId, timers.queue, timerParams.arm, timerParams.disarm],
    );
    return rows[0] ?? null;
  }

  /**
   * Moves an active call's room from one node to another, only if it is
   * still recorded on `fromNodeId`: of several processes recovering the
   * same room, exactly one wins (the others get null and use the winner's).
   */
  async moveMedia(id: string, fromNodeId: string | null, toNodeId: string): Promise<CallRecord | null> {
    const rows = await this.sql.named<CallRecord>(
      'call_move_media',
      `WITH moved AS (
         UPDATE calls AS c SET media_node_id = $3
          WHERE c.id = $1 AND c.state = 'active' AND c.media_node_id IS NOT DISTINCT FROM $2
          RETURNING ${COLUMNS}
       )
       SELECT moved.* FROM moved, LATERAL (SELECT pg_notify('${CALL_CHANGED_CHANNEL}', moved.id::text)) told`,
      [id, fromNodeId, toNodeId],
    );
    return rows[0] ?? null;
  }

  /** Active calls whose room is on a node not in `liveNodeIds` (lost), oldest first. */
  // Plain SQL: every process runs this sweep several times a second.
  async activeOffNodes(liveNodeIds: string[], limit: number): Promise<CallRecord[]> {
    return this.sql.named<CallRecord>(
      'calls_active_off_nodes',
      `SELECT ${COLUMNS} FROM calls c
        WHERE c.state = 'active' AND (c.media_node_id IS NULL OR NOT (c.media_node_id = ANY($1::text[])))
        ORDER BY c.answered_at ASC LIMIT $2`,
      [liveNodeIds, limit],
    );
  }

  /** Active calls whose room is on the given node. */
  async activeOnNode(nodeId: string, limit: number): Promise<CallRecord[]> {
    return this.sql.named<CallRecord>(
      'calls_active_on_node',
      `SELECT ${COLUMNS} FROM calls c WHERE c.state = 'active' AND c.media_node_id = $1 ORDER BY c.answered_at ASC LIMIT $2`,
      [nodeId, limit],
    );
  }

  /** Active video calls, a page at a time in id order (re-checked when the video flag changes). */
  async activeVideoPage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: 'active', media: 'video', ...(afterId ? { id: { gt: afterId } } : {}) },
      orderBy: { id: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  /** Records that the cap's warning went out; null when it already did or the call is not active. */
  async markWarned(id: string, at: Date): Promise<CallRecord | null> {
    const rows = await this.sql.named<CallRecord>(
      'call_mark_warned',
      `UPDATE calls AS c SET warned_at = $2 WHERE c.id = $1 AND c.state = 'active' AND c.warned_at IS NULL
        RETURNING ${COLUMNS}`,
      [id, at],
    );
    return rows[0] ?? null;
  }

  /**
   * Ends the call if it is in one of `from`, and frees both participants'
   * slots, atomically (one statement), announcing the change to every
   * process on commit.
   */
  async end(id: string, from: CallState[], end: CallEnd, timers: TimerChanges = NO_TIMERS_CHANGES): Promise<CallRecord | null> {
    const timerParams = timerChangeParams(timers);
    const rows = await this.sql.named<CallRecord>(
      'call_end',
      `WITH ended AS (
         UPDATE calls AS c SET state = 'ended', ended_at = $3, end_reason = $4::call_end_reason, ended_by_id = $5
          WHERE c.id = $1 AND c.state = ANY($2::call_state[])
          RETURNING ${COLUMNS}
       ), freed AS (
         DELETE FROM call_slots WHERE call_id IN (SELECT id FROM ended)
       ), disarmed AS (
         ${disarmTimersSql('$6', '$7', 'ended')}
       )
       SELECT ended.* FROM ended, LATERAL (SELECT pg_notify('${CALL_CHANGED_CHANNEL}', ended.id::text)) told`,
      [id, from, end.endedAt, end.endReason, end.endedById, timers.queue, timerParams.disarm],
    );
    return rows[0] ?? null;
  }

  async storeMediaStats(id: string, stats: MediaStatsDto): Promise<void> {
    await this.sql.named('call_store_media_stats', 'UPDATE calls SET media_stats = $2 WHERE id = $1', [id, JSON.stringify(stats)]);
  }

  /**
   * The call's media set-up time, stored the first time only: several
   * processes may see both participants producing at once, the first
   * write stands. True when this write was the one stored.
   */
  async recordMediaSetup(id: string, setupMs: number): Promise<boolean> {
    const rows = await this.sql.named<{ id: string }>(
      'call_record_media_setup',
      'UPDATE calls SET media_setup_ms = $2 WHERE id = $1 AND media_setup_ms IS NULL RETURNING id',
      [id, setupMs],
    );
    return rows.length > 0;
  }

  /** Active calls in the whole service (the (state, media_node_id) index answers it). */
  async countActive(): Promise<number> {
    const rows = await this.sql.named<{ n: number }>('calls_count_active', `SELECT count(*)::int AS n FROM calls WHERE state = 'active'`);
    return rows[0].n;
  }

  /** The user's calls, newest first; `after` continues behind the call created at `at` with id `id`. */
  async history(userId: string, limit: number, after?: { at: Date; id: string }): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: {
        AND: [
          { OR: [{ callerId: userId }, { calleeId: userId }] },
          after ? { OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, id: { lt: after.id } }] } : {},
        ],
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
    })) as CallRecord[];
  }

  /** Active calls past their cap, and ringing calls past their ring time (found after a restart). */
  async overdue(now: Date, limit: number): Promise<CallRecord[]> {
    return this.sql.named<CallRecord>(
      'calls_overdue',
      `SELECT ${COLUMNS} FROM calls c
        WHERE (c.state = 'active' AND c.max_ends_at <= $1) OR (c.state = 'ringing' AND c.ring_ends_at <= $1)
        ORDER BY c.created_at ASC LIMIT $2`,
      [now, limit],
    );
  }

  /** Live calls, a page at a time in id order (for re-arming their timers). */
  async livePage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: { in: LIVE_STATES }, ...(afterId ? { id: { gt: afterId } } : {}) },
      orderBy: { id: 'asc' },
      take: limit,
    })) as CallRecord[];
  }
}

type CreatedRow = CallRecord & { calleeExists: boolean; blocked: boolean; mutual: boolean };
