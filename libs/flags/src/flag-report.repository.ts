import { Injectable } from '@nestjs/common';
import { DatabasePool } from '@app/database';

export interface VariantUsers {
  value: boolean;
  users: number;
}

export interface VariantCalls {
  value: boolean;
  attempted: number;
  refused: number;
  answered: number;
  durationSecondsMean: number | null;
  setupMsP50: number | null;
}

export interface VariantQuality {
  value: boolean;
  kind: 'audio' | 'video';
  legs: number;
  lossRatioMean: number | null;
  jitterMsP50Mean: number | null;
  jitterMsP95Mean: number | null;
  bitrateBpsMean: number | null;
  bytesPerMinuteMean: number | null;
  scoreMean: number | null;
}

/** A leg's numeric field, or null where a stored leg lacks it (rows of an earlier format). */
const num = (field: string) => `CASE WHEN jsonb_typeof(leg -> '${field}') = 'number' THEN (leg ->> '${field}')::float8 END`;

/**
 * A flag's experiment, aggregated in PostgreSQL: however many exposures and
 * calls there are, each query answers at most one row per variant (and
 * media kind). `since` null means everything.
 */
@Injectable()
export class FlagReportRepository {
  constructor(private readonly db: DatabasePool) {}

  /** Each exposed user once, in the variant of the value they saw last (ties: on). */
  async usersByVariant(flagKey: string, since: Date | null): Promise<VariantUsers[]> {
    return this.db.query<VariantUsers>(
      `SELECT value, count(*)::int AS users
         FROM (SELECT DISTINCT ON (user_id) user_id, value
                 FROM flag_exposures
                WHERE flag_key = $1 AND ($2::timestamptz IS NULL OR last_at >= $2::timestamptz)
                ORDER BY user_id, last_at DESC, value DESC) latest
        GROUP BY value`,
      [flagKey, since?.toISOString() ?? null],
    );
  }

  /** Attempts in the variant of the caller's value at the invite, and what became of the calls placed. */
  async callsByVariant(flagKey: string, since: Date | null): Promise<VariantCalls[]> {
    return this.db.query<VariantCalls>(
      `SELECT a.flag_value AS value,
              count(*)::int AS attempted,
              (count(*) FILTER (WHERE a.outcome = 'refused'))::int AS refused,
              count(c.answered_at)::int AS answered,
              avg(extract(epoch FROM c.ended_at - c.answered_at))::float8 AS "durationSecondsMean",
              percentile_cont(0.5) WITHIN GROUP (ORDER BY c.media_setup_ms) AS "setupMsP50"
         FROM call_attempts a
         LEFT JOIN calls c ON c.id = a.call_id AND a.outcome = 'placed'
        WHERE a.flag_key = $1 AND ($2::timestamptz IS NULL OR a.created_at >= $2::timestamptz)
        GROUP BY a.flag_value`,
      [flagKey, since?.toISOString() ?? null],
    );
  }

  /** Means over the media legs of the variant's placed calls, per kind; bytes per minute of the call's answered time. */
  async qualityByVariant(flagKey: string, since: Date | null): Promise<VariantQuality[]> {
    return this.db.query<VariantQuality>(
      `WITH placed AS (
         SELECT a.flag_value, c.media_stats, extract(epoch FROM c.ended_at - c.answered_at)::float8 AS seconds
           FROM call_attempts a
           JOIN calls c ON c.id = a.call_id
          WHERE a.flag_key = $1 AND ($2::timestamptz IS NULL OR a.created_at >= $2::timestamptz)
            AND a.outcome = 'placed'
            AND jsonb_typeof(c.media_stats -> 'legs') = 'array'
       ), legs AS (
         SELECT p.flag_value, p.seconds, leg
           FROM placed p CROSS JOIN LATERAL jsonb_array_elements(p.media_stats -> 'legs') AS leg
          WHERE jsonb_typeof(leg) = 'object' AND leg ->> 'kind' IN ('audio', 'video')
       )
       SELECT flag_value AS value,
              leg ->> 'kind' AS kind,
              count(*)::int AS legs,
              avg(${num('lossRatio')}) AS "lossRatioMean",
              avg(${num('jitterMsP50')}) AS "jitterMsP50Mean",
              avg(${num('jitterMsP95')}) AS "jitterMsP95Mean",
              avg(${num('bitrateBpsMean')}) AS "bitrateBpsMean",
              avg(CASE WHEN seconds > 0 THEN ${num('bytes')} / (seconds / 60) END) AS "bytesPerMinuteMean",
              avg(${num('scoreMean')}) AS "scoreMean"
         FROM legs
        GROUP BY flag_value, leg ->> 'kind'
        ORDER BY flag_value, leg ->> 'kind'`,
      [flagKey, since?.toISOString() ?? null],
    );
  }
}
