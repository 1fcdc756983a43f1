import { Injectable } from '@nestjs/common';
import { ContactDto, DomainError } from '@app/contracts';
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
  ) {}

  async list(ownerId: string): Promise<ContactDto[]> {
    return (await this.contacts.listFor(ownerId)).map(toContactDto);
  }

  /** The "quick add": adds when absent, and sets favourite when asked. */
  async put(ownerId: string, contactId: string, favorite: boolean | undefined): Promise<ContactDto> {
    await this.relationships.requireOtherUser(ownerId, contactId);
    await this.contacts.upsert(ownerId, contactId, favorite);
    const [row] = await this.contacts.listFor(ownerId, contactId);
    // Only a concurrent DELETE of the same contact gets here without a row.
    if (!row) throw DomainError.notFound('contact');
    return toContactDto(row);
  }

  /** Idempotent. */
  async remove(ownerId: string, contactId: string): Promise<void> {
    await this.contacts.remove(ownerId, contactId);
  }
}
