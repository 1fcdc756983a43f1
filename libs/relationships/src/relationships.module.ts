import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { RealtimeModule } from '@app/realtime';
import { BlockRepository } from './block.repository';
import { ContactRepository } from './contact.repository';
import { ContactsService } from './contacts.service';
import { RelationshipService } from './relationship.service';

/** Contacts and blocks: who may reach whom, used by messaging and calls alike. */
@Module({
  imports: [AuthModule, RealtimeModule],
  providers: [ContactRepository, BlockRepository, RelationshipService, ContactsService],
  exports: [RelationshipService, ContactsService],
})
export class RelationshipsModule {}
