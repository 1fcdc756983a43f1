import { UseFilters, UseInterceptors, applyDecorators } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsErrorFilter } from './ws-error.filter';
import { WsAckInterceptor } from './ws-ack.interceptor';
import { WsRateLimitInterceptor } from './ws-rate-limit.interceptor';

/**
 * A socket.io gateway class of this server: shares the HTTP port and default
 * namespace, answers every event with the protocol's ack envelope, and
 * counts every event against its user's rate limit.
 */
export function SocketGateway(): ClassDecorator {
  return applyDecorators(
    WebSocketGateway(),
    UseFilters(WsErrorFilter),
    UseInterceptors(WsAckInterceptor, WsRateLimitInterceptor),
  );
}
