import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { MessagingModule } from '@app/messaging';
import { RelationshipsModule } from '@app/relationships';
import { BlocksController } from './blocks.controller';
import { ContactsController } from './contacts.controller';
import { ConversationsController } from './conversations.controller';
import { MessagingGateway } from './messaging.gateway';

/** HTTP controllers and socket handlers of messaging, and of the contacts and blocks it stands on. */
@Module({
  imports: [AuthModule, MessagingModule, RelationshipsModule],
  controllers: [ContactsController, BlocksController, ConversationsController],
  providers: [MessagingGateway],
})
export class MessagingApiModule {}
