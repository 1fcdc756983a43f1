import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Socket } from 'socket.io';

/** The address a socket connects from, as this server sees it (no proxy headers are trusted). */
export const ClientAddress = createParamDecorator((_: unknown, ctx: ExecutionContext): string | undefined => {
  const socket = ctx.switchToWs().getClient<Socket>();
  return socket.handshake?.address || socket.conn?.remoteAddress || undefined;
});
