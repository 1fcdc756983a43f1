import { Injectable } from '@nestjs/common';
import { PrismaService } from '@app/database';

/** Who may reach whom: contacts in both directions and blocks in either. */
@Injectable()
export class RelationshipService {
  constructor(private readonly prisma: PrismaService) {}

  /** Both users have each other as contacts. */
  async areMutualContacts(a: string, b: string): Promise<boolean> {
    const n = await this.prisma.contact.count({
      where: { OR: [{ ownerId: a, contactId: b }, { ownerId: b, contactId: a }] },
    });
    return n === 2;
  }

  /** Either user blocked the other. */
  async isBlockedEitherWay(a: string, b: string): Promise<boolean> {
    const n = await this.prisma.block.count({
      where: { OR: [{ blockerId: a, blockedId: b }, { blockerId: b, blockedId: a }] },
    });
    return n > 0;
  }
}
