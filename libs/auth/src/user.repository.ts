import crypto from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DatabasePool, PrismaService } from '@app/database';

type UserRow = {
  id: string;
  handle: string;
  displayName: string;
  /** The previous version's revocation instant; see isRevoked in auth.service.ts. */
  tokensValidAfter: Date | null;
  tokenGeneration: number;
};

const USER_COLUMNS = `id, handle, display_name AS "displayName", tokens_valid_after AS "tokensValidAfter",
                      token_generation AS "tokenGeneration"`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class UserRepository {
  /** Lookups by id waiting for the next turn of the event loop, by id. */
  private lookups = new Map<string, { resolve(row: UserRow | null): void; reject(err: unknown): void }[]>();
  private lookupScheduled = false;

  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  /**
   * Creates the user on first use of a handle; later logins leave it as it is.
   * One statement finds or creates the row and reads its token generation, so
   * a token is signed under the generation of the row it was issued for. The
   * no-op update is what makes an existing row come back (and be the newest
   * committed version of it) rather than nothing.
   */
  async findOrCreateByHandle(handle: string, displayName: string): Promise<UserRow> {
    const rows = await this.sql.named<UserRow>(
      'users-find-or-create',
      `INSERT INTO users (id, handle, display_name) VALUES ($1, $2, $3)
             ON CONFLICT (handle) DO UPDATE SET handle = EXCLUDED.handle
             RETURNING ${USER_COLUMNS}`,
      [crypto.randomUUID(), handle, displayName],
    );
    return rows[0];
  }

  /**
   * Every socket connect and every authenticated request reads its user.
   * Through Prisma that read cost more CPU than the rest of the handshake, so
   * it is plain SQL, and the lookups asked for in one turn of the event loop
   * (a burst of connects) share one statement: each query's round trip costs
   * the gateway more than its rows. A string that is no id names nobody.
   */
  findById(id: string): Promise<UserRow | null> {
    if (!UUID.test(id)) return Promise.resolve(null);
    // The database spells ids in lower case; the rows are matched back by that spelling.
    id = id.toLowerCase();
    return new Promise((resolve, reject) => {
      const waiting = this.lookups.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.lookups.set(id, [{ resolve, reject }]);
      if (!this.lookupScheduled) {
        this.lookupScheduled = true;
        setImmediate(() => this.runLookups());
      }
    });
  }

  private runLookups(): void {
    this.lookupScheduled = false;
    const batch = this.lookups;
    this.lookups = new Map();
    this.sql.named<UserRow>('users-by-id', `SELECT ${USER_COLUMNS} FROM users WHERE id = ANY($1::uuid[])`, [[...batch.keys()]]).then(
      (rows) => {
        const found = new Map(rows.map((r) => [r.id, r]));
        for (const [id, waiting] of batch) for (const w of waiting) w.resolve(found.get(id) ?? null);
      },
      (err: unknown) => {
        for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
      },
    );
  }

  findByHandle(handle: string): Promise<UserRow | null> {
    return this.prisma.user.findUnique({ where: { handle } });
  }

  /** The one way the application asks whether users exist (the send path's batched check is SQL of its own). */
  async exists(id: string): Promise<boolean> {
    return (await this.existing([id])).has(id);
  }

  /** Which of `ids` are users. */
  async existing(ids: string[]): Promise<Set<string>> {
    const rows = await this.prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true } });
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Moves the user to the next token generation, which refuses every token
   * issued so far: the database orders the increment against every issue and
   * every check, so no clock takes part. `tokens_valid_after` is still set for
   * processes of the previous version during a rolling upgrade (they revoke by
   * time); this version ignores it once the generation is above 0. The new
   * generation, or null when there is no such user.
   */
  async advanceTokenGeneration(id: string): Promise<number | null> {
    if (!UUID.test(id)) return null;
    const rows = await this.sql.named<{ tokenGeneration: number }>(
      'users-advance-token-generation',
      `UPDATE users SET token_generation = token_generation + 1, tokens_valid_after = now()
              WHERE id = $1 RETURNING token_generation AS "tokenGeneration"`,
      [id],
    );
    return rows[0]?.tokenGeneration ?? null;
  }
}
