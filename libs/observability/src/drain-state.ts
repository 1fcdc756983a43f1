import { Injectable } from '@nestjs/common';
import { DomainError } from '@app/contracts';

/**
 * Whether this process is on its way out (SIGTERM): readiness turns off so a
 * load balancer stops sending it new clients, and no new call starts here,
 * while what is already running carries on until the stop.
 */
@Injectable()
export class DrainState {
  private since?: Date;
  private readonly listeners: (() => void)[] = [];

  get draining(): boolean {
    return this.since !== undefined;
  }

  get drainingSince(): Date | undefined {
    return this.since;
  }

  /** Idempotent: listeners run once, on the first call. `now`: the caller's clock time, kept as drainingSince. */
  start(now: Date): void {
    if (this.since) return;
    this.since = now;
    for (const listener of this.listeners.splice(0)) listener();
  }

  /** Runs when draining starts (at once when it already has). */
  onDrain(listener: () => void): void {
    if (this.since) listener();
    else this.listeners.push(listener);
  }

  /** Throws the protocol's error for work this process no longer takes on. */
  refuseNewWork(what: string, retryAfterMs = 1000): void {
    if (!this.since) return;
    throw new DomainError('INTERNAL', `this server is shutting down and takes no new ${what}; reconnect and try again`, {
      reason: 'draining',
      retryAfterMs,
    });
  }
}
