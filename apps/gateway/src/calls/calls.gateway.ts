import { MessageBody, SubscribeMessage } from '@nestjs/websockets';
import { AuthUser, CurrentUser } from '@app/auth';
import { CallsService, toCallDto } from '@app/calls';
import { schemas } from '@app/contracts';
import { DrainState } from '@app/observability';
import type { z } from 'zod';
import { ClientAddress } from '../common/client-address.decorator';
import { SocketGateway } from '../common/socket-gateway.decorator';
import { ZodPipe } from '../common/zod.pipe';

type CallInvite = { to: string; media: 'audio' | 'video' };

/** call:* events: validate, then the calls service decides; its answer is the ack. */
@SocketGateway()
export class CallsGateway {
  constructor(
    private readonly calls: CallsService,
    private readonly drain: DrainState,
  ) {}

  @SubscribeMessage('call:invite')
  async invite(@MessageBody(new ZodPipe(schemas.callInvite)) body: CallInvite, @CurrentUser() user: AuthUser) {
    // A stopping process places no new calls; calls already running are left to finish.
    this.drain.refuseNewWork('calls');
    return { call: toCallDto(await this.calls.invite(user.id, body.to, body.media)) };
  }

  @SubscribeMessage('call:accept')
  async accept(
    @MessageBody(new ZodPipe(schemas.callAccept)) body: z.output<typeof schemas.callAccept>,
    @CurrentUser() user: AuthUser,
    @ClientAddress() clientAddress: string | undefined,
  ) {
    if (!body.join) return { call: toCallDto(await this.calls.accept(user.id, body.callId)) };
    const { call, media } = await this.calls.acceptAndJoin(user.id, body.callId, body.join, clientAddress);
    return { call: toCallDto(call), media };
  }

  @SubscribeMessage('call:decline')
  async decline(@MessageBody(new ZodPipe(schemas.callRef)) body: schemas.CallRef, @CurrentUser() user: AuthUser) {
    return { call: toCallDto(await this.calls.decline(user.id, body.callId)) };
  }

  @SubscribeMessage('call:cancel')
  async cancel(@MessageBody(new ZodPipe(schemas.callRef)) body: schemas.CallRef, @CurrentUser() user: AuthUser) {
    return { call: toCallDto(await this.calls.cancel(user.id, body.callId)) };
  }

  @SubscribeMessage('call:hangup')
  async hangUp(@MessageBody(new ZodPipe(schemas.callRef)) body: schemas.CallRef, @CurrentUser() user: AuthUser) {
    return { call: toCallDto(await this.calls.hangUp(user.id, body.callId)) };
  }
}
