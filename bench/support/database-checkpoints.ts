import { onDatabaseServer, SCRATCH_SERVER_URL } from '@app/harness';

/** PostgreSQL's checkpoints around a suite: the one it started with, and the server's own during it. */
export interface SuiteCheckpoints {
  /** A CHECKPOINT ran before the suite's first stage (false: the role may not, and the suite ran anyway). */
  forcedAtStart: boolean;
  /**
   * Checkpoints the server started on its own timer while the suite ran, as far as it had reported them
   * (it does once each is done); null when they could not be read.
   */
  timedDuring: number | null;
}

/**
 * Starts a suite with a checkpoint of its own, and on `end` says how many
 * the server started on its timer meanwhile.
 *
 * PostgreSQL starts a checkpoint checkpoint_timeout (5 min by default)
 * after the last one. For a while after one starts, the first change to
 * each page writes the whole page to the WAL, so a stage it falls in does
 * more work per row than the stages around it: the first run after a quiet
 * spell met one in its persisted-DM stage, at 3,111 DMs/s against 4,702–8,434
 * in the five runs after it. Checkpointing first puts the next timed one a
 * whole checkpoint_timeout away, beyond the end of a suite, and every stage
 * then runs as the later ones do (the scratch databases' DROP forces one
 * between stages anyway).
 */
export async function startAfterCheckpoint(serverUrl = SCRATCH_SERVER_URL): Promise<{ end(): Promise<SuiteCheckpoints> }> {
  const forcedAtStart = await onDatabaseServer(async (c) => (await c.query('CHECKPOINT'), true), serverUrl).catch(() => false);
  const before = await checkpointCounts(serverUrl);
  return {
    end: async () => {
      const after = await checkpointCounts(serverUrl);
      return { forcedAtStart, timedDuring: before === null || after === null ? null : after.timed - before.timed };
    },
  };
}

/**
 * The server's checkpoints since its statistics were reset: started by its timer, and asked for
 * (CHECKPOINT, DROP DATABASE); null when they cannot be read. PostgreSQL 17 moved the counters.
 */
export async function checkpointCounts(serverUrl = SCRATCH_SERVER_URL): Promise<{ timed: number; requested: number } | null> {
  return onDatabaseServer(async (c) => {
    const pg17 = (await c.query<{ yes: boolean }>(`SELECT to_regclass('pg_stat_checkpointer') IS NOT NULL AS yes`)).rows[0].yes;
    const sql = pg17
      ? 'SELECT num_timed AS timed, num_requested AS requested FROM pg_stat_checkpointer'
      : 'SELECT checkpoints_timed AS timed, checkpoints_req AS requested FROM pg_stat_bgwriter';
    const row = (await c.query<{ timed: string; requested: string }>(sql)).rows[0];
    return { timed: Number(row.timed), requested: Number(row.requested) };
  }, serverUrl).catch(() => null);
}

/** What each suite's checkpoint comes before, as its log and its report name it. */
export const CHECKPOINTED_BEFORE = { messages: 'the database stages', callSetup: 'the set-ups' } as const;

/** The suite's checkpoints in words, for the log and the report; `stages`: what the checkpoint came before. */
export function describeCheckpoints(c: SuiteCheckpoints, stages: string): string {
  const start = c.forcedAtStart ? `one forced before ${stages}` : `none forced before ${stages} (CHECKPOINT refused)`;
  const timed =
    c.timedDuring === null
      ? "the server's timed ones could not be counted"
      : c.timedDuring === 0
        ? "none of the server's timed ones during them"
        : `${c.timedDuring} of the server's timed ones started during them: the part it fell in wrote whole pages to the WAL, unlike the rest`;
  return `${start}; ${timed}`;
}

/** Logs the checkpoints when they were not as planned (none forced, or a timed one anyway). */
export function logUnplannedCheckpoints(c: SuiteCheckpoints, stages: string, log: (s: string) => void): void {
  if (!c.forcedAtStart || c.timedDuring !== 0) log(`  PostgreSQL checkpoints: ${describeCheckpoints(c, stages)}`);
}
