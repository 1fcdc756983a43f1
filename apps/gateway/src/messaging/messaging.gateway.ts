import { ConnectedSocket, MessageBody, SubscribeMessage } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { AuthUser, CurrentUser } from '@app/auth';
import { schemas } from '@app/contracts';
import { DirectMessagesService } from '@app/messaging';
import { SocketGateway } from '../common/socket-gateway.decorator';
import { ZodPipe } from '../common/zod.pipe';
import { DmSendPipe } from './dm-send.pipe';

/** dm:* events: validate, delegate; the service checks who may do what. */
@SocketGateway()
export class MessagingGateway {
  constructor(private readonly messages: DirectMessagesService) {}

  @SubscribeMessage('dm:send')
  send(@ConnectedSocket() socket: Socket, @MessageBody(new DmSendPipe()) body: schemas.DmSend, @CurrentUser() user: AuthUser) {
    return this.messages.send(user.id, body, socket.id);
  }

  @SubscribeMessage('dm:history')
  history(@MessageBody(new ZodPipe(schemas.dmHistory)) body: schemas.DmHistory, @CurrentUser() user: AuthUser) {
    return this.messages.history(user.id, body);
  }

  @SubscribeMessage('dm:read')
  async read(
    @ConnectedSocket() socket: Socket,
    @MessageBody(new ZodPipe(schemas.dmRead)) body: schemas.DmRead,
    @CurrentUser() user: AuthUser,
  ) {
    await this.messages.markRead(user.id, body, socket.id);
    return {};
  }

  @SubscribeMessage('dm:typing')
  async typing(@MessageBody(new ZodPipe(schemas.dmTyping)) body: schemas.DmTyping, @CurrentUser() user: AuthUser) {
    await this.messages.typing(user.id, body.to);
    return {};
  }

  @SubscribeMessage('dm:sync')
  sync(@MessageBody(new ZodPipe(schemas.dmSync)) body: schemas.DmSync, @CurrentUser() user: AuthUser) {
    return this.messages.sync(user.id, body);
  }
}
