import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from '@app/observability';

/** Counts and times HTTP requests by route pattern (not raw path: ids would explode the labels). */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  private readonly requests;

  constructor(metrics: MetricsService) {
    this.requests = metrics.histogram('http_request_duration_seconds', 'HTTP requests by route and status', [
      'method',
      'route',
      'status',
    ]);
  }

  use(req: Request, res: Response, next: NextFunction): void {
    const stop = this.requests.startTimer();
    res.once('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      stop({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }
}
