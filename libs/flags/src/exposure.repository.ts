import { Injectable } from '@nestjs/common';
import { DatabasePool } from '@app/database';

/** What one flag's value decided for one user: coalesced in memory, added to the stored row. */
export interface ExposureCount {
  flagKey: string;
  userId: string;
  value: boolean;
  firstAt: Date;
  lastAt: Date;
  count: number;
}

/** Where the next page of a flag's exposures starts: after this user and value. */
export interface ExposurePosition {
  userId: string;
  value: boolean;
}

const MAX_INT32 = 2_147_483_647;

/** flag_exposures: written by batched upserts, read a page at a time. */
@Injectable()
export class ExposureRepository {
  constructor(private readonly db: DatabasePool) {}

  /**
   * One statement for the whole batch. Rows go in key order, so two
   * processes upserting overlapping batches lock rows in the same order and
   * cannot deadlock. Users that do not exist are skipped rather than failing
   * the batch; the count saturates at the column's limit.
   */
  async upsert(batch: ExposureCount[]): Promise<void> {
    if (batch.length === 0) return;
    await this.db.query(
      `INSERT INTO flag_exposures (flag_key, user_id, value, first_at, last_at, count)
       SELECT e.flag_key, e.user_id, e.value, e.first_at, e.last_at, e.count
         FROM unnest($1::text[], $2::uuid[], $3::boolean[], $4::timestamptz[], $5::timestamptz[], $6::int[])
              AS e(flag_key, user_id, value, first_at, last_at, count)
         JOIN users u ON u.id = e.user_id
        ORDER BY e.flag_key, e.user_id, e.value
       ON CONFLICT (flag_key, user_id, value) DO UPDATE
          SET first_at = least(flag_exposures.first_at, excluded.first_at),
              last_at = greatest(flag_exposures.last_at, excluded.last_at),
              count = least(flag_exposures.count::bigint + excluded.count, ${MAX_INT32})::int`,
      [
        batch.map((e) => e.flagKey),
        batch.map((e) => e.userId),
        batch.map((e) => e.value),
        batch.map((e) => e.firstAt.toISOString()),
        batch.map((e) => e.lastAt.toISOString()),
        batch.map((e) => Math.min(e.count, MAX_INT32)),
      ],
    );
  }

  /** A flag's exposures by user and value (the primary key's order), after `after`. */
  async page(flagKey: string, after: ExposurePosition | undefined, limit: number): Promise<ExposureCount[]> {
    const rows = await this.db.query<{
      user_id: string;
      value: boolean;
      first_at: Date;
      last_at: Date;
      count: number;
    }>(
      `SELECT user_id, value, first_at, last_at, count
         FROM flag_exposures
        WHERE flag_key = $1
          AND ($2::uuid IS NULL OR (user_id, value) > ($2::uuid, $3::boolean))
        ORDER BY user_id, value
        LIMIT $4`,
      [flagKey, after?.userId ?? null, after?.value ?? false, limit],
    );
    return rows.map((r) => ({
      flagKey,
      userId: r.user_id,
      value: r.value,
      firstAt: r.first_at,
      lastAt: r.last_at,
      count: r.count,
    }));
  }
}
