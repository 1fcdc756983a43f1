import { Injectable, OnModuleInit } from '@nestjs/common';
import { DatabaseNotifications } from '@app/database';
import type { CallRecord } from './call-record';
import { CALL_CHANGED_CHANNEL } from './call.repository';

/** Calls remembered at most; the oldest go first (a miss only costs one read). */
const MAX_CALLS = 20_000;

/**
 * The active calls this process routes media requests for, by call and by
 * participant, so a media:* request does not read its call row. Filled when
 * this process answers a call or reads one; an entry goes when the call ends
 * or its room moves, on any process: those updates NOTIFY on commit, and a
 * lost LISTEN connection empties the whole cache.
 *
 * What an entry is trusted for: its participants never change, so the
 * check that a user touches only their own call is exact. Its state and
 * node may be stale for the moment between another process's commit and
 * the notification; the room is closed on its node before an end is
 * acknowledged, so a request through a stale entry finds no room there, and
 * the caller then asks the database (see CallMediaService).
 */
@Injectable()
export class ActiveCallCache implements OnModuleInit {
  private readonly calls = new Map<string, CallRecord>();
  private readonly byUser = new Map<string, string>();
  // Bumped by every change heard: a read that started before one is not stored.
  private epoch = 0;

  constructor(private readonly notifications: DatabaseNotifications) {}

  async onModuleInit(): Promise<void> {
    await this.notifications.subscribe(CALL_CHANGED_CHANNEL, {
      message: (callId) => this.forget(callId),
      resync: () => this.clear(),
    });
  }

  get(callId: string): CallRecord | undefined {
    return this.calls.get(callId);
  }

  /** The active call the user takes part in, if remembered. */
  ofUser(userId: string): CallRecord | undefined {
    const callId = this.byUser.get(userId);
    return callId === undefined ? undefined : this.calls.get(callId);
  }

  /** Taken before a database read; pass it to remember() with what was read. */
  mark(): number {
    return this.epoch;
  }

  /**
   * Remembers an active call with its room's node (anything else is
   * forgotten). With `readAt` (from mark()), only if nothing changed since
   * the read began: the row may predate a change already heard.
   */
  remember(call: CallRecord, readAt?: number): void {
    if (readAt !== undefined && readAt !== this.epoch) return;
    if (call.state !== 'active' || !call.mediaNodeId) {
      this.forget(call.id);
      return;
    }
    if (!this.calls.has(call.id) && this.calls.size >= MAX_CALLS) this.drop(this.calls.keys().next().value!);
    this.calls.set(call.id, { ...call });
    this.byUser.set(call.callerId, call.id);
    this.byUser.set(call.calleeId, call.id);
  }

  forget(callId: string): void {
    this.epoch++;
    this.drop(callId);
  }

  clear(): void {
    this.epoch++;
    this.calls.clear();
    this.byUser.clear();
  }

  size(): number {
    return this.calls.size;
  }

  private drop(callId: string): void {
    const call = this.calls.get(callId);
    if (!call) return;
    this.calls.delete(callId);
    for (const userId of [call.callerId, call.calleeId]) {
      if (this.byUser.get(userId) === callId) this.byUser.delete(userId);
    }
  }
}
