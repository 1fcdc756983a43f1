import { Injectable } from '@nestjs/common';
import { ContactDto, DomainError, MAX_PAGE } from '@app/contracts';
import { decodePageCursor, encodePageCursor, offsetCursor } from '@app/database';
import { RealtimeService } from '@app/realtime';
import { ContactRepository } from './contact.repository';
import { toContactDto } from './relationship-dtos';
import { RelationshipService } from './relationship.service';

/** The address book behind the messages tab. */
@Injectable()
export class ContactsService {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly relationships: RelationshipService,
    private readonly realtime: RealtimeService,
  ) {}

  /**
   * One page of the address book. The order follows conversations, which
   * move, so the cursor is a position: a contact may show twice or be
   * skipped when the order changes between pages.
   */
  async list(
    ownerId: string,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ contacts: ContactDto[]; nextCursor: string | null }> {
    const offset = decodePageCursor(page.cursor, offsetCursor)?.o ?? 0;
    const limit = page.limit ?? MAX_PAGE;
    const rows = await this.contacts.listFor(ownerId, undefined, { offset, limit: limit + 1 });
    const contacts = rows.slice(0, limit).map(toContactDto);
    return { contacts, nextCursor: rows.length > limit ? encodePageCursor({ o: offset + limit }) : null };
  }

  /** The "quick add": adds when absent, and sets favourite when asked. */
  async put(ownerId: string, contactId: string, favorite: boolean | undefined): Promise<ContactDto> {
    await this.relationships.requireOtherUser(ownerId, contactId);
    const added = await this.contacts.upsert(ownerId, contactId, favorite);
    const [row] = await this.contacts.listFor(ownerId, contactId);
    // Only a concurrent DELETE of the same contact gets here without a row.
    if (!row) throw DomainError.notFound('contact');
    if (added) await this.tellContact(ownerId, contactId, 'added', row.mutual);
    return toContactDto(row);
  }

  /** Idempotent. */
  async remove(ownerId: string, contactId: string): Promise<void> {
    if (await this.contacts.remove(ownerId, contactId)) await this.tellContact(ownerId, contactId, 'removed', false);
  }

  /**
   * The other user's `mutual` for this owner just changed: their client need
   * not reload to show it. Never across a block: a blocked user reaches
   * nobody who blocked them (nor the other way) with a push.
   */
  private async tellContact(ownerId: string, contactId: string, change: 'added' | 'removed', mutual: boolean): Promise<void> {
    if (await this.relationships.isBlockedEitherWay(ownerId, contactId)) return;
    this.realtime.toUser(contactId, 'contacts:changed', { userId: ownerId, change, mutual });
  }
}
