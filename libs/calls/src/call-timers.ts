import { Injectable } from '@nestjs/common';
import { DurableScheduler, TimerChanges, TimerSpec } from '@app/scheduler';
import type { CallRecord } from './call-record';

/** A due moment in a call's life. */
export type CallTimer =
  | { kind: 'ring-timeout'; callId: string }
  | { kind: 'cap-warning'; callId: string }
  | { kind: 'cap'; callId: string }
  | { kind: 'disconnect-grace'; callId: string; userId: string };

// One queue for every call timer: one poll per process, however many calls.
export const CALL_TIMERS_QUEUE = 'call-timers';

/** Timers a call transition stores or removes in its own statement. */
export type CallTimerChanges = TimerChanges<CallTimer>;

const key = (t: CallTimer) => (t.kind === 'disconnect-grace' ? `${t.callId}:${t.kind}:${t.userId}` : `${t.callId}:${t.kind}`);

/** The keys of both participants' grace timers of a call. */
const graceKeys = (call: Pick<CallRecord, 'id' | 'callerId' | 'calleeId'>) =>
  [call.callerId, call.calleeId].map((userId) => key({ kind: 'disconnect-grace', callId: call.id, userId }));

/**
 * The call timers on the durable scheduler, keyed per call so any process
 * can re-arm or cancel them. A transition's timers are handed to its
 * statement as changes (ringing, answered, ended), so both commit together:
 * no call without its timer, no timer of a transition that did not happen.
 */
@Injectable()
export class CallTimers {
  constructor(private readonly scheduler: DurableScheduler) {}

  /** Sets the handler; called once, before the application starts. */
  onDue(handler: (timer: CallTimer) => Promise<void>): void {
    this.scheduler.define<CallTimer>(CALL_TIMERS_QUEUE, handler);
  }

  /** A new call's ring timeout, stored with the call. */
  ringing(call: Pick<CallRecord, 'id' | 'ringEndsAt'>): CallTimerChanges {
    const timer: CallTimer = { kind: 'ring-timeout', callId: call.id };
    return { queue: CALL_TIMERS_QUEUE, arm: call.ringEndsAt ? [{ key: key(timer), at: call.ringEndsAt, data: timer }] : [], disarm: [] };
  }

  /** An answered call: its cap (and warning) armed, its ring timeout removed, with the answer. */
  answered(call: Pick<CallRecord, 'id' | 'maxEndsAt' | 'warnedAt'>, warningBeforeMs: number): CallTimerChanges {
    return {
      queue: CALL_TIMERS_QUEUE,
      arm: this.capTimers(call, warningBeforeMs),
      disarm: [key({ kind: 'ring-timeout', callId: call.id })],
    };
  }

  /**
   * An ended call: every timer of it removed with the end (firing ones find
   * the call ended and do nothing). The grace timers' keys name the
   * participants; without them, disarmGrace removes those after the end.
   */
  ended(callId: string, participants?: Pick<CallRecord, 'callerId' | 'calleeId'>): CallTimerChanges {
    const timers: CallTimer[] = [
      { kind: 'ring-timeout', callId },
      { kind: 'cap-warning', callId },
      { kind: 'cap', callId },
    ];
    const grace = participants ? graceKeys({ id: callId, ...participants }) : [];
    return { queue: CALL_TIMERS_QUEUE, arm: [], disarm: [...timers.map(key), ...grace] };
  }

  /** Both participants' grace timers of an ended call. */
  async disarmGrace(call: Pick<CallRecord, 'id' | 'callerId' | 'calleeId'>): Promise<void> {
    await this.scheduler.disarm(CALL_TIMERS_QUEUE, graceKeys(call));
  }

  /** A ringing call's timeout, armed again (a process starting up). */
  async armRingTimeout(call: CallRecord): Promise<void> {
    for (const t of this.ringing(call).arm) await this.scheduler.arm(CALL_TIMERS_QUEUE, t.key, t.at, t.data);
  }

  /** The warning and the end of an answered call's duration cap, in one statement. */
  async armCap(call: CallRecord, warningBeforeMs: number): Promise<void> {
    const timers = this.capTimers(call, warningBeforeMs);
    if (timers.length > 0) await this.scheduler.armMany(CALL_TIMERS_QUEUE, timers);
  }

  private capTimers(call: Pick<CallRecord, 'id' | 'maxEndsAt' | 'warnedAt'>, warningBeforeMs: number): TimerSpec<CallTimer>[] {
    if (!call.maxEndsAt) return [];
    const cap: CallTimer = { kind: 'cap', callId: call.id };
    const timers: TimerSpec<CallTimer>[] = [{ key: key(cap), at: call.maxEndsAt, data: cap }];
    if (!call.warnedAt) {
      const warning: CallTimer = { kind: 'cap-warning', callId: call.id };
      timers.unshift({ key: key(warning), at: new Date(call.maxEndsAt.getTime() - warningBeforeMs), data: warning });
    }
    return timers;
  }

  /** (Re)starts the grace period of a participant whose sockets are all gone. */
  async armDisconnectGrace(callId: string, userId: string, at: Date): Promise<void> {
    const timer: CallTimer = { kind: 'disconnect-grace', callId, userId };
    await this.scheduler.rearm(CALL_TIMERS_QUEUE, key(timer), at, timer);
  }

  async disarmDisconnectGrace(callId: string, userId: string): Promise<void> {
    await this.scheduler.disarm(CALL_TIMERS_QUEUE, key({ kind: 'disconnect-grace', callId, userId }));
  }

  /** Removes every timer of an ended call (firing ones find the call ended and do nothing). */
  async disarmAll(call: CallRecord): Promise<void> {
    await this.scheduler.disarm(CALL_TIMERS_QUEUE, this.ended(call.id, call).disarm);
  }
}
