import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, catchError, map, throwError } from 'rxjs';
import type { Socket } from 'socket.io';
import { okAck } from '@app/contracts';
import { Logger, MetricsService, newRequestId, ROOT_LOGGER, runWithRequestId } from '@app/observability';
import { toErrorBody } from './error-body';

/** Errors whose access line the interceptor already wrote (the error filter writes the others). */
const loggedFailures = new WeakSet<object>();

export function accessLogged(error: unknown): boolean {
  return typeof error === 'object' && error !== null && loggedFailures.has(error);
}

/**
 * A handler's return value becomes `{ ok: true, data }` (never nil, so Nest
 * always acks). Each handled event runs under a request id of its own (every
 * log line it causes carries it), is counted and timed, and leaves one
 * access log line with its outcome: `ok` or the error code.
 */
@Injectable()
export class WsAckInterceptor implements NestInterceptor {
  private readonly events;
  private readonly duration;
  private readonly access: SocketAccessLog;

  constructor(metrics: MetricsService, @Inject(ROOT_LOGGER) rootLogger: Logger) {
    this.events = socketEventCounter(metrics);
    this.duration = metrics.histogram('socket_event_duration_seconds', 'socket event handling time', ['event']);
    this.access = new SocketAccessLog(rootLogger);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const event = context.switchToWs().getPattern();
    const socket = context.switchToWs().getClient<Socket>();
    const requestId = newRequestId();
    const started = process.hrtime.bigint();
    const stop = this.duration.startTimer({ event });
    const handled = next.handle().pipe(
      map((data) => {
        stop();
        this.events.inc({ event, outcome: 'ok' });
        this.access.write({ requestId, event, socket, outcome: 'ok', started });
        return okAck(data ?? {});
      }),
      catchError((error: unknown) => {
        this.access.write({ requestId, event, socket, outcome: toErrorBody(error).body.code, started });
        if (typeof error === 'object' && error !== null) loggedFailures.add(error);
        return throwError(() => error);
      }),
    );
    // The handler runs when Nest subscribes: subscribing inside the request
    // context puts the handler and everything it awaits under this id.
    return new Observable((subscriber) => runWithRequestId(requestId, () => handled.subscribe(subscriber)));
  }
}

/** One line per answered socket event: event, user, outcome, duration, request id. */
export class SocketAccessLog {
  private readonly logger: Logger;

  constructor(rootLogger: Logger) {
    this.logger = rootLogger.child({ component: 'access' });
  }

  write(entry: { requestId?: string; event: string; socket?: Socket; outcome: string; started?: bigint }): void {
    const durationMs = entry.started === undefined ? undefined : Number(process.hrtime.bigint() - entry.started) / 1e6;
    this.logger.info(
      {
        requestId: entry.requestId ?? newRequestId(),
        kind: 'socket',
        event: entry.event,
        userId: entry.socket?.data?.user?.id,
        socketId: entry.socket?.id,
        outcome: entry.outcome,
        durationMs: durationMs === undefined ? undefined : Math.round(durationMs * 10) / 10,
      },
      'socket event',
    );
  }
}

export function socketEventCounter(metrics: MetricsService) {
  return metrics.counter('socket_events_total', 'socket events answered, by event and outcome (ok or error code)', [
    'event',
    'outcome',
  ]);
}
