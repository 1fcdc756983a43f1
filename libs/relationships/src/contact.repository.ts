import { Injectable } from '@nestjs/common';
import { DatabasePool, PrismaService } from '@app/database';
import { mutualContactsSql } from './relationship-sql';

export interface ContactRow {
  user: { id: string; handle: string; displayName: string };
  favorite: boolean;
  mutual: boolean;
  addedAt: Date;
}

/** One user's address book. */
@Injectable()
export class ContactRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly sql: DatabasePool,
  ) {}

  /** Adds the contact if absent; sets `favorite` when given. True when it was added now. */
  async upsert(ownerId: string, contactId: string, favorite: boolean | undefined): Promise<boolean> {
    const { count } = await this.prisma.contact.createMany({
      data: [{ ownerId, contactId, favorite: favorite ?? false }],
      skipDuplicates: true,
    });
    if (count === 0 && favorite !== undefined) {
      await this.prisma.contact.updateMany({ where: { ownerId, contactId }, data: { favorite } });
    }
    return count === 1;
  }

  /** True when there was such a contact. */
  async remove(ownerId: string, contactId: string): Promise<boolean> {
    const { count } = await this.prisma.contact.deleteMany({ where: { ownerId, contactId } });
    return count > 0;
  }

  /** Both directions exist. */
  async areMutual(a: string, b: string): Promise<boolean> {
    const [row] = await this.sql.query<{ mutual: boolean }>(`SELECT ${mutualContactsSql('$1::uuid', '$2::uuid')} AS mutual`, [a, b]);
    return row.mutual;
  }

  /**
   * Favourites first, then the most recent conversation with that contact
   * (none last), then the most recently added.
   */
  async listFor(ownerId: string, onlyContactId?: string, page = { offset: 0, limit: 1 }): Promise<ContactRow[]> {
    const rows = await this.prisma.$queryRaw<
      {
        id: string;
        handle: string;
        display_name: string;
        favorite: boolean;
        mutual: boolean;
        added_at: Date;
      }[]
    >`
      SELECT u.id, u.handle, u.display_name, ct.favorite, ct.added_at,
             EXISTS (SELECT 1 FROM contacts back
                      WHERE back.owner_id = ct.contact_id AND back.contact_id = ct.owner_id) AS mutual
        FROM contacts ct
        JOIN users u ON u.id = ct.contact_id
        LEFT JOIN conversations c
               ON c.user_low_id = LEAST(ct.owner_id, ct.contact_id)
              AND c.user_high_id = GREATEST(ct.owner_id, ct.contact_id)
       WHERE ct.owner_id = ${ownerId}::uuid
         AND (${onlyContactId ?? null}::uuid IS NULL OR ct.contact_id = ${onlyContactId ?? null}::uuid)
       ORDER BY ct.favorite DESC, c.last_message_at DESC NULLS LAST, ct.added_at DESC, u.id
       LIMIT ${page.limit} OFFSET ${page.offset}`;
    return rows.map((r) => ({
      user: { id: r.id, handle: r.handle, displayName: r.display_name },
      favorite: r.favorite,
      mutual: r.mutual,
      addedAt: new Date(r.added_at),
    }));
  }
}
