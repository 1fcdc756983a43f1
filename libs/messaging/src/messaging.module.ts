import { Module } from '@nestjs/common';
import { RealtimeModule } from '@app/realtime';
import { RelationshipsModule } from '@app/relationships';
import { BatchedMessageStore } from './batched-message-store';
import { ConversationRepository } from './conversation.repository';
import { DirectMessagesService } from './direct-messages.service';
import { MessageRepository } from './message.repository';

@Module({
  imports: [RelationshipsModule, RealtimeModule],
  providers: [ConversationRepository, MessageRepository, BatchedMessageStore, DirectMessagesService],
  exports: [DirectMessagesService],
})
export class MessagingModule {}
