import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { RealtimeModule } from '@app/realtime';
import { BatchedMessageStore } from './batched-message-store';
import { BlockRepository } from './block.repository';
import { ContactRepository } from './contact.repository';
import { ContactsService } from './contacts.service';
import { ConversationRepository } from './conversation.repository';
import { DirectMessagesService } from './direct-messages.service';
import { MessageRepository } from './message.repository';
import { RelationshipService } from './relationship.service';

@Module({
  imports: [AuthModule, RealtimeModule],
  providers: [
    ContactRepository,
    BlockRepository,
    ConversationRepository,
    MessageRepository,
    BatchedMessageStore,
    RelationshipService,
    ContactsService,
    DirectMessagesService,
  ],
  exports: [RelationshipService, ContactsService, DirectMessagesService],
})
export class MessagingModule {}
