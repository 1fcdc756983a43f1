import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, map } from 'rxjs';
import { okAck } from '@app/contracts';
import { MetricsService } from '@app/observability';

/**
 * A handler's return value becomes `{ ok: true, data }` (never nil, so Nest
 * always acks), and each handled event is counted and timed.
 */
@Injectable()
export class WsAckInterceptor implements NestInterceptor {
  private readonly events;
  private readonly duration;

  constructor(metrics: MetricsService) {
    this.events = socketEventCounter(metrics);
    this.duration = metrics.histogram('socket_event_duration_seconds', 'socket event handling time', ['event']);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const event = context.switchToWs().getPattern();
    const stop = this.duration.startTimer({ event });
    return next.handle().pipe(
      map((data) => {
        stop();
        this.events.inc({ event, outcome: 'ok' });
        return okAck(data ?? {});
      }),
    );
  }
}

export function socketEventCounter(metrics: MetricsService) {
  return metrics.counter('socket_events_total', 'socket events answered, by event and outcome (ok or error code)', [
    'event',
    'outcome',
  ]);
}
