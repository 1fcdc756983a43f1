import { MessageBody, SubscribeMessage } from '@nestjs/websockets';
import type { z } from 'zod';
import { AuthUser, CurrentUser } from '@app/auth';
import { schemas } from '@app/contracts';
import { CallMediaService } from '@app/calls';
import { ClientAddress } from '../common/client-address.decorator';
import { SocketGateway } from '../common/socket-gateway.decorator';
import { ZodPipe } from '../common/zod.pipe';

/**
 * media:* events. Each handler validates the payload and passes the socket's
 * user to CallMediaService, which checks that the user is a participant of
 * the active call the room, transport or consumer belongs to, and routes the
 * request to the media node holding that room.
 */
@SocketGateway()
export class MediaGateway {
  constructor(private readonly media: CallMediaService) {}

  @SubscribeMessage('media:capabilities')
  capabilities(@MessageBody(new ZodPipe(schemas.mediaCapabilities)) body: schemas.CallRef, @CurrentUser() user: AuthUser) {
    return this.media.capabilities(user.id, body.callId);
  }

  @SubscribeMessage('media:create-transport')
  createTransport(
    @MessageBody(new ZodPipe(schemas.mediaCreateTransport)) body: z.output<typeof schemas.mediaCreateTransport>,
    @CurrentUser() user: AuthUser,
    @ClientAddress() clientAddress: string | undefined,
  ) {
    return this.media.createTransport(user.id, body.callId, body, clientAddress);
  }

  @SubscribeMessage('media:connect-transport')
  async connectTransport(
    @MessageBody(new ZodPipe(schemas.mediaConnectTransport)) body: schemas.MediaConnectTransport,
    @CurrentUser() user: AuthUser,
    @ClientAddress() clientAddress: string | undefined,
  ) {
    const { transportId, ...params } = body;
    await this.media.connectTransport(user.id, transportId, params, clientAddress);
    return {};
  }

  @SubscribeMessage('media:produce')
  produce(@MessageBody(new ZodPipe(schemas.mediaProduce)) body: schemas.MediaProduce, @CurrentUser() user: AuthUser) {
    return this.media.produce(user.id, body.transportId, body.kind, body.rtpParameters);
  }

  @SubscribeMessage('media:consume')
  consume(@MessageBody(new ZodPipe(schemas.mediaConsume)) body: schemas.MediaConsume, @CurrentUser() user: AuthUser) {
    return this.media.consume(user.id, body.transportId, body.producerId, body.rtpCapabilities);
  }

  @SubscribeMessage('media:resume')
  async resume(@MessageBody(new ZodPipe(schemas.mediaResume)) body: schemas.MediaResume, @CurrentUser() user: AuthUser) {
    await this.media.resume(user.id, body.consumerId);
    return {};
  }

  /** Transports, producers and consumers of the call in one request; the socket's address vets plain targets. */
  @SubscribeMessage('media:join')
  join(
    @MessageBody(new ZodPipe(schemas.mediaJoin)) body: schemas.MediaJoinParsed,
    @CurrentUser() user: AuthUser,
    @ClientAddress() clientAddress: string | undefined,
  ) {
    const { callId, ...options } = body;
    return this.media.join(user.id, callId, options, clientAddress);
  }
}
