import { Injectable } from '@nestjs/common';
import type { Gauge } from 'prom-client';
import { MetricsService } from './metrics.service';

/** What a tracked client emits; node-redis v4 clients do ('ready', 'end', 'error', 'reconnecting'). */
export interface ConnectionEvents {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isReady?: boolean;
}

/**
 * Whether each named connection to an outside service (Redis: the socket.io
 * adapter's pair, the media bus, rate limits...) is up, as the gauge
 * `redis_connected{connection}` (1 up, 0 down) and for readiness.
 *
 * Owners of a client call `track(name, client)` once after creating it, or
 * `set(name, up)` when they follow its state themselves.
 */
@Injectable()
export class ConnectionStates {
  private readonly states = new Map<string, boolean>();
  private readonly gauge: Gauge<'connection'>;

  constructor(metrics: MetricsService) {
    this.gauge = metrics.gauge('redis_connected', 'whether each named Redis connection of this process is up (1) or down (0)', [
      'connection',
    ]);
  }

  set(name: string, up: boolean): void {
    this.states.set(name, up);
    this.gauge.set({ connection: name }, up ? 1 : 0);
  }

  /** Follows a node-redis client: up on 'ready', down on 'end', 'error' and 'reconnecting'. */
  track(name: string, client: ConnectionEvents): void {
    this.set(name, client.isReady ?? false);
    client.on('ready', () => this.set(name, true));
    for (const event of ['end', 'error', 'reconnecting']) client.on(event, () => this.set(name, false));
  }

  /** Stops reporting a connection closed on purpose (so readiness does not wait for it). */
  forget(name: string): void {
    this.states.delete(name);
    this.gauge.remove({ connection: name });
  }

  /** Names of tracked connections that are down (empty when all are up or none is tracked). */
  down(): string[] {
    return [...this.states].filter(([, up]) => !up).map(([name]) => name);
  }

  snapshot(): Record<string, boolean> {
    return Object.fromEntries(this.states);
  }
}

/**
 * How late durable timers (call ring and cap timeouts on pg-boss) fire: the
 * gauge `timer_queue_lag_seconds{queue}` (the last job's lag) and the
 * histogram `timer_lag_seconds{queue}`. The scheduler calls it as a job starts,
 * with the time the job was due and its clock's time.
 */
export function recordTimerLag(metrics: MetricsService, queue: string, dueAt: Date, now: Date): void {
  const lagSeconds = Math.max(0, (now.getTime() - dueAt.getTime()) / 1000);
  metrics.gauge('timer_queue_lag_seconds', 'how late the last durable timer of each queue fired', ['queue']).set({ queue }, lagSeconds);
  metrics.histogram('timer_lag_seconds', 'how late durable timers fire, by queue', ['queue']).observe({ queue }, lagSeconds);
}
