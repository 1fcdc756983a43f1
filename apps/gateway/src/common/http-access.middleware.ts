import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import {
  acceptRequestId,
  Logger,
  MetricsService,
  REQUEST_ID_HEADER,
  ROOT_LOGGER,
  runWithRequestId,
  tracksRequestIds,
} from '@app/observability';

/** Longest request path written to an access log line. */
const MAX_LOGGED_PATH_CHARS = 256;

/** Where the error filter leaves the protocol code of a failed request, for the access log. */
export const ERROR_CODE_LOCAL = 'errorCode';

/**
 * Per HTTP request: a request id (the caller's `x-request-id` when it is fit
 * for logs, else a new one) echoed in the response and attached to every log
 * line written while handling it; one access log line when the response is
 * finished; and its count and time by route pattern (not raw path: ids would
 * explode the labels).
 */
@Injectable()
export class HttpAccessMiddleware implements NestMiddleware {
  private readonly requests;
  private readonly logger: Logger;
  private readonly withRequestContext: boolean;

  constructor(metrics: MetricsService, @Inject(ROOT_LOGGER) rootLogger: Logger) {
    this.requests = metrics.histogram('http_request_duration_seconds', 'HTTP requests by route and status', ['method', 'route', 'status']);
    this.logger = rootLogger.child({ component: 'access' });
    this.withRequestContext = tracksRequestIds(rootLogger);
  }

  use(req: Request, res: Response, next: NextFunction): void {
    const requestId = acceptRequestId(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      this.requests.observe({ method: req.method, route, status: String(res.statusCode) }, durationMs / 1000);
      const user = (req as Request & { user?: { id: string } }).user;
      this.logger.info(
        {
          requestId,
          kind: 'http',
          method: req.method,
          route,
          // The client writes the path: shown cut short, like socket event names.
          path:
            req.path.length > MAX_LOGGED_PATH_CHARS ? `${req.path.slice(0, MAX_LOGGED_PATH_CHARS)}…(${req.path.length} chars)` : req.path,
          status: res.statusCode,
          userId: user?.id,
          outcome: (res.locals[ERROR_CODE_LOCAL] as string | undefined) ?? (res.statusCode < 400 ? 'ok' : String(res.statusCode)),
          durationMs: Math.round(durationMs * 10) / 10,
        },
        'http request',
      );
    });
    if (this.withRequestContext) runWithRequestId(requestId, next);
    else next();
  }
}
