import { ArgumentsHost, Catch, ExceptionFilter, Inject } from '@nestjs/common';
import type { Response } from 'express';
import { HTTP_STATUS_BY_CODE } from '@app/contracts';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { toErrorBody } from './error-body';
import { ERROR_CODE_LOCAL } from './http-access.middleware';

/** Every HTTP failure leaves as `{ error: { code, message, details? } }`. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(@Inject(ROOT_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest();
    const { body, unexpected } = toErrorBody(exception);
    if (unexpected) this.logger.error({ err: exception, method: req?.method, url: req?.url }, 'HTTP handler failed');
    if (res.headersSent) return;
    res.locals[ERROR_CODE_LOCAL] = body.code;
    if (body.code === 'RATE_LIMITED' && typeof body.details?.retryAfterMs === 'number') {
      res.setHeader('Retry-After', Math.ceil(body.details.retryAfterMs / 1000));
    }
    res.status(HTTP_STATUS_BY_CODE[body.code]).json({ error: body });
  }
}
