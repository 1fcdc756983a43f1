import { ArgumentsHost, Catch, ExceptionFilter, Inject } from '@nestjs/common';
import { errorAck } from '@app/contracts';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { toErrorBody } from './error-body';

/**
 * Socket handlers' failures become the ack `{ ok: false, error }`. Nest calls
 * handlers as (socket, payload, ack), so the ack is the third argument: the
 * socket event pipeline's, which counts and logs the outcome.
 */
@Catch()
export class WsErrorFilter implements ExceptionFilter {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { body, unexpected } = toErrorBody(exception);
    if (unexpected) {
      const socket = host.getArgByIndex(0);
      this.logger.error({ err: exception, socketId: socket?.id, userId: socket?.data?.user?.id }, 'socket handler failed');
    }
    const ack = host.getArgByIndex(2);
    if (typeof ack === 'function') ack(errorAck(body));
  }
}
