import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import { schemas } from '@app/contracts';
import { DirectMessagesService } from '@app/messaging';
import { ZodPipe } from '../common/zod.pipe';

@Controller('conversations')
@UseGuards(UserAuthGuard)
export class ConversationsController {
  constructor(private readonly messages: DirectMessagesService) {}

  @Get()
  list(@CurrentUser() user: AuthUser, @Query(new ZodPipe(schemas.pageQuery, 'query')) query: schemas.PageQuery) {
    return this.messages.conversationsOf(user.id, query);
  }

  @Get(':id/messages')
  history(
    @CurrentUser() user: AuthUser,
    @Param('id', new ZodPipe(schemas.uuid, 'id')) conversationId: string,
    @Query(new ZodPipe(schemas.messagesQuery, 'query')) query: schemas.MessagesQuery,
  ) {
    return this.messages.history(user.id, { conversationId, ...query });
  }
}
