import { Injectable } from '@nestjs/common';
import { DatabasePool, PrismaService } from '@app/database';

type UserRow = { id: string; handle: string; displayName: string; tokensValidAfter: Date | null };

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

  /** Creates the user on first use of a handle; later logins leave it as it is. */
  async findOrCreateByHandle(handle: string, displayName: string): Promise<UserRow> {
    return this.prisma.user.upsert({
      where: { handle },
      create: { handle, displayName },
      update: {},
    });
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
    this.sql.pool
      .query<UserRow>({
        name: 'users-by-id',
        text: `SELECT id, handle, display_name AS "displayName", tokens_valid_after AS "tokensValidAfter"
                 FROM users WHERE id = ANY($1::uuid[])`,
        values: [[...batch.keys()]],
      })
      .then(
        ({ rows }) => {
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

  /** Tokens issued up to `at` are refused from now on. False when there is no such user. */
  async refuseTokensIssuedUpTo(id: string, at: Date): Promise<boolean> {
    const { count } = await this.prisma.user.updateMany({ where: { id }, data: { tokensValidAfter: at } });
    return count > 0;
  }
}
