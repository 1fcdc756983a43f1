import { Global, Module } from '@nestjs/common';
import { BatchedMessageStore } from './batched-message-store';
import { BlockRepository } from './block.repository';
import { CallEntryWriter } from './call-entry.writer';
import { ContactRepository } from './contact.repository';
import { ContactsService } from './contacts.service';
import { ConversationRepository } from './conversation.repository';
import { DirectMessagesService } from './direct-messages.service';
import { MessageRepository } from './message.repository';
import { MessagingSqlPool } from './messaging-sql-pool';
import { RelationshipService } from './relationship.service';
import { SendRateLimiter } from './send-rate-limiter';

@Global()
@Module({
  providers: [
    ContactRepository,
    BlockRepository,
    ConversationRepository,
    MessagingSqlPool,
    MessageRepository,
    BatchedMessageStore,
    SendRateLimiter,
    RelationshipService,
    ContactsService,
    DirectMessagesService,
    CallEntryWriter,
  ],
  exports: [RelationshipService, CallEntryWriter, ContactsService, DirectMessagesService],
})
export class MessagingModule {}
