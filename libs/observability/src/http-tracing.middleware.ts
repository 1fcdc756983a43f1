import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { contextFromHeaders, runInSpan, startSpan, tracingEnabled } from './tracing';

/**
 * A server span per HTTP request when tracing is on (a caller's
 * `traceparent` makes it a child of the caller's span), named by route
 * pattern once routing has matched one. Off: one flag check.
 */
@Injectable()
export class HttpTracingMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    if (!tracingEnabled()) return next();
    const span = startSpan(
      `HTTP ${req.method}`,
      { 'http.request.method': req.method, 'url.path': req.path },
      { kind: SpanKind.SERVER, parent: contextFromHeaders(req.headers) },
    );
    res.once('close', () => {
      const route = req.route?.path as string | undefined;
      if (route) {
        span?.setAttribute('http.route', route);
        span?.updateName(`${req.method} ${route}`);
      }
      span?.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
      span?.end();
    });
    runInSpan(span, next);
  }
}
