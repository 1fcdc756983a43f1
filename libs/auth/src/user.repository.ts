import { Injectable } from '@nestjs/common';
import { PrismaService } from '@app/database';

type UserRow = { id: string; handle: string; displayName: string; tokensValidAfter: Date | null };

@Injectable()
export class UserRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Creates the user on first use of a handle; later logins leave it as it is. */
  async findOrCreateByHandle(handle: string, displayName: string): Promise<UserRow> {
    return this.prisma.user.upsert({
      where: { handle },
      create: { handle, displayName },
      update: {},
    });
  }

  findById(id: string): Promise<UserRow | null> {
    return this.prisma.user.findUnique({ where: { id } });
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
