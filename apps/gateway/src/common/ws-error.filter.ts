import { ArgumentsHost, Catch, ExceptionFilter, Inject } from '@nestjs/common';
import { errorAck } from '@app/contracts';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { toErrorBody } from './error-body';
import { accessLogged, SocketAccessLog, socketEventCounter } from './ws-ack.interceptor';

/**
 * Socket handlers' failures become the ack `{ ok: false, error }`. Nest calls
 * handlers as (socket, payload, ack), so the ack is the third argument.
 */
@Catch()
export class WsErrorFilter implements ExceptionFilter {
  private readonly events;
  private readonly access: SocketAccessLog;

  constructor(
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    metrics: MetricsService,
  ) {
    this.events = socketEventCounter(metrics);
    this.access = new SocketAccessLog(logger);
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const { body, unexpected } = toErrorBody(exception);
    if (unexpected) {
      const socket = host.getArgByIndex(0);
      this.logger.error({ err: exception, socketId: socket?.id, userId: socket?.data?.user?.id }, 'socket handler failed');
    }
    const event = host.switchToWs().getPattern?.() ?? 'unknown';
    this.events.inc({ event, outcome: body.code });
    // Refused before the handler's interceptor ran (a guard): the access line is written here.
    if (!accessLogged(exception)) this.access.write({ event, socket: host.getArgByIndex(0), outcome: body.code });
    const ack = host.getArgByIndex(2);
    if (typeof ack === 'function') ack(errorAck(body));
  }
}
