import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { MessagingModule } from '@app/messaging';
import { BlocksController } from './blocks.controller';
import { ContactsController } from './contacts.controller';
import { ConversationsController } from './conversations.controller';
import { MessagingGateway } from './messaging.gateway';

/** HTTP controllers and socket handlers of the messaging capability. */
@Module({
  imports: [AuthModule, MessagingModule],
  controllers: [ContactsController, BlocksController, ConversationsController],
  providers: [MessagingGateway],
})
export class MessagingApiModule {}
