import { UseFilters, UseInterceptors, applyDecorators } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsErrorFilter } from './ws-error.filter';
import { WsAckInterceptor } from './ws-ack.interceptor';

/**
 * A socket.io gateway class of this server: shares the HTTP port and default
 * namespace, answers every event with the protocol's ack envelope.
 */
export function SocketGateway(): ClassDecorator {
  return applyDecorators(WebSocketGateway(), UseFilters(WsErrorFilter), UseInterceptors(WsAckInterceptor));
}
