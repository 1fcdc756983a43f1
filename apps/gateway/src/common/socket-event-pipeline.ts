import type { Socket } from 'socket.io';
import { isObservable, lastValueFrom } from 'rxjs';
import type { AppConfig } from '@app/config';
import { Ack, DomainError, errorAck, ErrorBody, okAck } from '@app/contracts';
import {
  CounterSeries,
  Logger,
  MetricsService,
  newRequestId,
  runWithRequestId,
  SpanKind,
  tracksRequestIds,
  withSpan,
} from '@app/observability';
import type { RateLimiterService } from '@app/rate-limits';
import { toErrorBody } from './error-body';

// What a socket over its in-flight cap is told to wait: answers usually come within milliseconds.
export const IN_FLIGHT_RETRY_MS = 100;

/** Longest event name written to a log line or echoed in an answer: a client picks the names, so their size is bounded here. */
export const MAX_LOGGED_EVENT_CHARS = 64;

/** An event name as logs and answers show it: at most MAX_LOGGED_EVENT_CHARS characters, then an ellipsis and the full length. */
export function shownEventName(event: unknown): string {
  const name = typeof event === 'string' ? event : String(event);
  return name.length <= MAX_LOGGED_EVENT_CHARS ? name : `${name.slice(0, MAX_LOGGED_EVENT_CHARS)}…(${name.length} chars)`;
}

/** The refusal of a request over its socket's in-flight cap. */
export function overInFlightCap(max: number): DomainError {
  return new DomainError('RATE_LIMITED', `more than ${max} requests of this socket await their answer`, {
    retryAfterMs: IN_FLIGHT_RETRY_MS,
    maxInFlight: max,
  });
}

/** Nest's handler of one event, bound to its socket: runs pipes and the method; its exception filter acks failures. */
export type BoundSocketHandler = (data: unknown, ack: (answer: Ack<unknown>) => void) => unknown;

export interface SocketEventPipelineDeps {
  limits?: RateLimiterService;
  /** Whether every socket of this user is on this process (its limits are then decided here: RateLimiterService.consume). */
  heldHereAlone?: (socket: Socket, userId: string) => boolean;
  config: Pick<AppConfig, 'socketMaxInFlight'>;
  metrics: MetricsService;
  rootLogger: Logger;
}

/**
 * What every socket event goes through around its Nest handler, done once
 * per event in plain code (as Nest interceptors it cost two rxjs chains and
 * an async-context binding per interceptor and event):
 *
 * 1. counted against its user's limit for that event before the payload is
 *    even validated, so malformed floods are limited too;
 * 2. capped per socket while it runs (SOCKET_MAX_IN_FLIGHT), so slow
 *    answers cannot pile up without bound;
 * 3. run under a request id of its own (every log line it causes carries it);
 * 4. answered `{ ok: true, data }` (never nil), or `{ ok: false, error }` by
 *    the gateway's exception filter through the same ack;
 * 5. counted and timed by outcome, with one access log line.
 */
export class SocketEventPipeline {
  private readonly events;
  /** socket_events_total's series by event and outcome, made on first use. */
  private readonly eventSeries = new Map<string, CounterSeries>();
  private readonly duration;
  private readonly access: SocketAccessLog;
  private readonly logger: Logger;
  /** Request ids are only read by log lines: none are made when nothing can be logged (see tracksRequestIds). */
  private readonly withRequestIds: boolean;

  constructor(private readonly deps: SocketEventPipelineDeps) {
    this.events = socketEventCounter(deps.metrics);
    this.duration = deps.metrics.histogram('socket_event_duration_seconds', 'socket event handling time', ['event']);
    this.access = new SocketAccessLog(deps.rootLogger);
    this.logger = deps.rootLogger;
    this.withRequestIds = tracksRequestIds(deps.rootLogger);
  }

  async handle(socket: Socket, event: string, data: unknown, ack: unknown, handler: BoundSocketHandler): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = this.withRequestIds ? newRequestId() : undefined;
    let answer: Ack<unknown> | undefined;
    // The exception filter answers failures through this too, so the outcome is known here.
    const reply = (body: Ack<unknown>) => {
      if (answer) return;
      answer = body;
      if (typeof ack === 'function') ack(body);
    };
    const userId: string | undefined = socket.data?.user?.id;
    let holdsPlace = false;
    try {
      if (userId) {
        await this.deps.limits?.consume(event, userId, this.deps.heldHereAlone?.(socket, userId));
        const inFlight: number = socket.data.inFlight ?? 0;
        const max = this.deps.config.socketMaxInFlight;
        if (inFlight >= max) throw overInFlightCap(max);
        socket.data.inFlight = inFlight + 1;
        holdsPlace = true;
      }
      const run = () => (requestId === undefined ? handler(data, reply) : runWithRequestId(requestId, () => handler(data, reply)));
      // A server span per event when tracing is on (one check when off); media requests it makes are its children.
      const shown = shownEventName(event);
      let result = withSpan(`socket ${shown}`, { 'socket.io.event': shown, 'enduser.id': userId ?? '' }, run, { kind: SpanKind.SERVER });
      if (result instanceof Promise) result = await result;
      if (isObservable(result)) result = await lastValueFrom(result, { defaultValue: undefined });
      reply(okAck(result ?? {}));
    } catch (err) {
      // Refused before the handler (limits), or a failure the exception filter did not take.
      const { body, unexpected } = toErrorBody(err);
      if (unexpected) this.logger.error({ err, event, socketId: socket.id, userId }, 'socket handler failed');
      reply(errorAck(body));
    } finally {
      if (holdsPlace) socket.data.inFlight -= 1;
    }
    const outcome = answer!.ok ? 'ok' : (answer as { error: ErrorBody }).error.code;
    this.countEvent(event, outcome);
    if (outcome === 'ok') this.duration.observe({ event }, Number(process.hrtime.bigint() - started) / 1e9);
    this.access.write({ requestId, event, socket, outcome, started });
  }

  private countEvent(event: string, outcome: string): void {
    const key = `${event}\n${outcome}`;
    let series = this.eventSeries.get(key);
    if (!series) {
      // Events are the handlers' names (known in advance) and outcomes are error codes: a bounded set.
      series = this.deps.metrics.counterSeries(this.events, { event, outcome });
      this.eventSeries.set(key, series);
    }
    series.inc();
  }
}

/** One line per answered socket event: event, user, outcome, duration, request id. */
export class SocketAccessLog {
  private readonly logger: Logger;

  constructor(rootLogger: Logger) {
    this.logger = rootLogger.child({ component: 'access' });
  }

  write(entry: { requestId?: string; event: string; socket?: Socket; outcome: string; started?: bigint }): void {
    // One line per event: with info lines off (LOG_LEVEL warn and up) it costs nothing to build.
    if (!this.logger.isLevelEnabled('info')) return;
    const durationMs = entry.started === undefined ? undefined : Number(process.hrtime.bigint() - entry.started) / 1e6;
    this.logger.info(
      {
        requestId: entry.requestId ?? newRequestId(),
        kind: 'socket',
        event: shownEventName(entry.event),
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
  return metrics.counter('socket_events_total', 'socket events answered, by event and outcome (ok or error code)', ['event', 'outcome']);
}
