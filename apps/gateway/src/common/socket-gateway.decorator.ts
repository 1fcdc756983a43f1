import { UseFilters, applyDecorators } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsErrorFilter } from './ws-error.filter';

/**
 * A socket.io gateway class of this server: shares the HTTP port and default
 * namespace, and answers failures with the protocol's error ack. Rate
 * limits, the success ack, metrics and the access log are applied to every
 * event by the socket adapter (SocketEventPipeline), not per gateway.
 */
export function SocketGateway(): ClassDecorator {
  return applyDecorators(WebSocketGateway(), UseFilters(WsErrorFilter));
}
