import { Injectable } from '@nestjs/common';
import { ContactDto, DomainError } from '@app/contracts';
import { RealtimeService } from '@app/realtime';
import { ContactRepository, ContactRow } from './contact.repository';
import { RelationshipService } from './relationship.service';

function toContactDto(row: ContactRow): ContactDto {
  return { user: row.user, favorite: row.favorite, mutual: row.mutual, addedAt: row.addedAt.toISOString() };
}

/** The address book behind the messages tab. */
@Injectable()
export class ContactsService {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly relationships: RelationshipService,
    private readonly realtime: RealtimeService,
  ) {}

  async list(ownerId: string): Promise<ContactDto[]> {
    return (await this.contacts.listFor(ownerId)).map(toContactDto);
  }

  /** The "quick add": adds when absent, and sets favourite when asked. */
  async put(ownerId: string, contactId: string, favorite: boolean | undefined): Promise<ContactDto> {
    await this.relationships.requireOtherUser(ownerId, contactId);
    const added = await this.contacts.upsert(ownerId, contactId, favorite);
    const [row] = await this.contacts.listFor(ownerId, contactId);
    // Only a concurrent DELETE of the same contact gets here without a row.
    if (!row) throw DomainError.notFound('contact');
    if (added) this.tellContact(ownerId, contactId, 'added', row.mutual);
    return toContactDto(row);
  }

  /** Idempotent. */
  async remove(ownerId: string, contactId: string): Promise<void> {
    if (await this.contacts.remove(ownerId, contactId)) this.tellContact(ownerId, contactId, 'removed', false);
  }

  /** The other user's `mutual` for this owner just changed: their client need not reload to show it. */
  private tellContact(ownerId: string, contactId: string, change: 'added' | 'removed', mutual: boolean): void {
    this.realtime.toUser(contactId, 'contacts:changed', { userId: ownerId, change, mutual });
  }
}
