import { Injectable } from '@nestjs/common';
import { Prisma, PrismaService } from '@app/database';
import type { FlagRule } from './flag-evaluator';

/** Where a change is announced to every gateway process (PostgreSQL LISTEN/NOTIFY). */
export const FLAG_CHANGE_CHANNEL = 'feature_flag_changed';

export interface FlagDefinition extends FlagRule {
  description: string;
  updatedAt: Date;
}

/** A definition as the audit trail keeps it: what an admin can set. */
export type FlagSettings = Omit<FlagDefinition, 'updatedAt'>;

export interface FlagChange {
  description?: string;
  enabled?: boolean;
  rolloutPercent?: number;
  allowUserIds?: string[];
  denyUserIds?: string[];
}

export interface FlagAuditRecord {
  at: Date;
  actor: string;
  before: FlagSettings | null;
  after: FlagSettings;
}

export interface AppliedFlagChange {
  definition: FlagDefinition;
  /** False when the change left the definition as it was (nothing written, nothing announced). */
  changed: boolean;
}

const SELECT_DEFINITION = {
  key: true,
  description: true,
  enabled: true,
  rolloutPercent: true,
  allowUserIds: true,
  denyUserIds: true,
  updatedAt: true,
} as const;

export function settingsOf(def: FlagDefinition): FlagSettings {
  return {
    key: def.key,
    description: def.description,
    enabled: def.enabled,
    rolloutPercent: def.rolloutPercent,
    allowUserIds: [...def.allowUserIds],
    denyUserIds: [...def.denyUserIds],
  };
}

export function sameSettings(a: FlagSettings, b: FlagSettings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The flag aggregate in PostgreSQL: definitions and their audit trail. */
@Injectable()
export class FlagRepository {
  constructor(private readonly prisma: PrismaService) {}

  findAll(): Promise<FlagDefinition[]> {
    return this.prisma.featureFlag.findMany({ select: SELECT_DEFINITION, orderBy: { key: 'asc' } });
  }

  find(key: string): Promise<FlagDefinition | null> {
    return this.prisma.featureFlag.findUnique({ where: { key }, select: SELECT_DEFINITION });
  }

  /**
   * Creates the flag if it is new, applies the change under a row lock, writes
   * the audit entry and announces the key on FLAG_CHANGE_CHANNEL, all in one
   * transaction: the announcement goes out only once the change is committed.
   */
  async applyChange(key: string, change: FlagChange, actor: string, now: () => Date): Promise<AppliedFlagChange> {
    return this.prisma.$transaction(
      async (tx) => {
        const created = await tx.featureFlag.createMany({
          data: [{ key, description: change.description ?? '', updatedAt: now() }],
          skipDuplicates: true,
        });
        // Serialises concurrent changes of one flag, so each audit entry's "before" is the previous "after".
        await tx.$queryRaw`SELECT key FROM feature_flags WHERE key = ${key} FOR UPDATE`;
        // Read under the lock, so the audit's times follow the order the changes were applied in.
        const at = now();
        const current = await tx.featureFlag.findUniqueOrThrow({ where: { key }, select: SELECT_DEFINITION });
        const before = created.count === 1 ? null : settingsOf(current);
        const after: FlagSettings = {
          key,
          description: change.description ?? current.description,
          enabled: change.enabled ?? current.enabled,
          rolloutPercent: change.rolloutPercent ?? current.rolloutPercent,
          allowUserIds: change.allowUserIds ?? current.allowUserIds,
          denyUserIds: change.denyUserIds ?? current.denyUserIds,
        };
        if (before !== null && sameSettings(before, after)) return { definition: current, changed: false };
        const definition = await tx.featureFlag.update({
          where: { key },
          data: { ...after, updatedAt: at },
          select: SELECT_DEFINITION,
        });
        await tx.featureFlagAudit.create({
          data: {
            flagKey: key,
            at,
            actor,
            before: before === null ? Prisma.JsonNull : (before as unknown as Prisma.InputJsonObject),
            after: after as unknown as Prisma.InputJsonObject,
          },
        });
        await tx.$queryRaw`SELECT pg_notify(${FLAG_CHANGE_CHANNEL}, ${key})::text AS sent`;
        return { definition, changed: true };
      },
      { timeout: 15_000, maxWait: 15_000 },
    );
  }

  /** Newest first (ids are taken under the row lock, so they follow the order of the changes). */
  async audit(key: string, limit: number): Promise<FlagAuditRecord[]> {
    const rows = await this.prisma.featureFlagAudit.findMany({
      where: { flagKey: key },
      orderBy: { id: 'desc' },
      take: limit,
    });
    return rows.map((r) => ({
      at: r.at,
      actor: r.actor,
      before: (r.before ?? null) as unknown as FlagSettings | null,
      after: r.after as unknown as FlagSettings,
    }));
  }
}
