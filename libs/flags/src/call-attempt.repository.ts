import { Injectable } from '@nestjs/common';
import { DatabasePool } from '@app/database';

export type CallAttemptOutcome = 'placed' | 'refused';

/** One call:invite a flag judged, as stored. */
export interface CallAttemptRow {
  id: string;
  flagKey: string;
  callerId: string;
  calleeId: string;
  media: 'audio' | 'video';
  flagValue: boolean;
  outcome: CallAttemptOutcome;
  errorCode: string | null;
  callId: string | null;
  createdAt: Date;
}

/** call_attempts: appended in batches. */
@Injectable()
export class CallAttemptRepository {
  constructor(private readonly db: DatabasePool) {}

  /**
   * One statement for the batch. Ids are made before the first try, so a
   * retry after a write that did commit adds nothing twice. A call id that
   * names no call is stored as null instead of failing the batch.
   */
  async insert(batch: CallAttemptRow[]): Promise<void> {
    if (batch.length === 0) return;
    await this.db.query(
      `INSERT INTO call_attempts
              (id, flag_key, caller_id, callee_id, media, flag_value, outcome, error_code, call_id, created_at)
       SELECT a.id, a.flag_key, a.caller_id, a.callee_id, a.media::call_media, a.flag_value, a.outcome,
              a.error_code, c.id, a.created_at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::boolean[], $7::text[],
                     $8::text[], $9::uuid[], $10::timestamptz[])
              AS a(id, flag_key, caller_id, callee_id, media, flag_value, outcome, error_code, call_id, created_at)
         LEFT JOIN calls c ON c.id = a.call_id
       ON CONFLICT (id) DO NOTHING`,
      [
        batch.map((a) => a.id),
        batch.map((a) => a.flagKey),
        batch.map((a) => a.callerId),
        batch.map((a) => a.calleeId),
        batch.map((a) => a.media),
        batch.map((a) => a.flagValue),
        batch.map((a) => a.outcome),
        batch.map((a) => a.errorCode),
        batch.map((a) => a.callId),
        batch.map((a) => a.createdAt.toISOString()),
      ],
    );
  }
}
