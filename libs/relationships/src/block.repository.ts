import { Injectable } from '@nestjs/common';
import { DatabasePool, PrismaService } from '@app/database';
import { blockedEitherWaySql } from './relationship-sql';

export interface BlockRow {
  user: { id: string; handle: string; displayName: string };
  blockedAt: Date;
}

/** Who blocked whom. */
@Injectable()
export class BlockRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  async add(blockerId: string, blockedId: string): Promise<void> {
    await this.prisma.$executeRaw`
      INSERT INTO blocks (blocker_id, blocked_id) VALUES (${blockerId}::uuid, ${blockedId}::uuid)
      ON CONFLICT DO NOTHING`;
  }

  async remove(blockerId: string, blockedId: string): Promise<void> {
    await this.prisma.block.deleteMany({ where: { blockerId, blockedId } });
  }

  async existsEitherWay(a: string, b: string): Promise<boolean> {
    const [row] = await this.sql.query<{ blocked: boolean }>(`SELECT ${blockedEitherWaySql('$1::uuid', '$2::uuid')} AS blocked`, [a, b]);
    return row.blocked;
  }

  /** Newest first; `after` continues behind the block made at `at` of user `id`. */
  async listBy(blockerId: string, limit: number, after?: { at: Date; id: string }): Promise<BlockRow[]> {
    const rows = await this.prisma.block.findMany({
      where: {
        blockerId,
        ...(after ? { OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, blockedId: { lt: after.id } }] } : {}),
      },
      include: { blocked: true },
      orderBy: [{ createdAt: 'desc' }, { blockedId: 'desc' }],
      take: limit,
    });
    return rows.map((r) => ({
      user: { id: r.blocked.id, handle: r.blocked.handle, displayName: r.blocked.displayName },
      blockedAt: r.createdAt,
    }));
  }
}
