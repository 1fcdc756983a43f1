import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, defer, finalize, from, switchMap } from 'rxjs';
import type { Socket } from 'socket.io';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { RateLimiterService } from '@app/rate-limits';

// What a socket over its in-flight cap is told to wait: answers usually come within milliseconds.
const IN_FLIGHT_RETRY_MS = 100;

/**
 * Every socket event is counted against its user's limit for that event
 * before the payload is even validated, so malformed floods are limited too.
 * Requests that passed it are then capped per socket while they run
 * (SOCKET_MAX_IN_FLIGHT), so slow answers cannot pile up without bound.
 */
@Injectable()
export class WsRateLimitInterceptor implements NestInterceptor {
  constructor(
    private readonly limits: RateLimiterService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const event = context.switchToWs().getPattern();
    const socket = context.switchToWs().getClient<Socket>();
    const userId: string | undefined = socket.data?.user?.id;
    if (!userId) return next.handle();
    return from(this.limits.consume(event, userId)).pipe(
      switchMap(() =>
        defer(() => {
          const inFlight: number = socket.data.inFlight ?? 0;
          if (inFlight >= this.config.socketMaxInFlight) {
            throw new DomainError('RATE_LIMITED', `more than ${this.config.socketMaxInFlight} requests of this socket await their answer`, {
              retryAfterMs: IN_FLIGHT_RETRY_MS,
              maxInFlight: this.config.socketMaxInFlight,
            });
          }
          socket.data.inFlight = inFlight + 1;
          return next.handle().pipe(finalize(() => (socket.data.inFlight -= 1)));
        }),
      ),
    );
  }
}
