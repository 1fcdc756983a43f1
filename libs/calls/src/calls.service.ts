import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { CallEndReason, CallMedia, CallState, DomainError, MAX_PAGE, MediaJoinResultDto, MediaStatsDto } from '@app/contracts';
import { ExperimentLog, FlagsService, VIDEO_CALL_FLAG } from '@app/flags';
import { decodePageCursor, encodePageCursor, timeCursor, withinResponseBytes } from '@app/database';
import { DirectMessagesService } from '@app/messaging';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RealtimeService } from '@app/realtime';
import { callEntryBody } from './call-entry-body';
import { CallRecord, isParticipant, toCallDto } from './call-record';
import { CallRepository, InviteRefusal } from './call.repository';
import { CallMediaService, MediaJoinOptions } from './call-media.service';
import { CallMetrics } from './call-metrics';
import { CallTimers } from './call-timers';

const DEFAULT_HISTORY_LIMIT = 50;
/** Ringing calls remembered at most for their accept (oldest dropped first; a miss reads the row). */
const MAX_RINGING_REMEMBERED = 10_000;

/** A promise's outcome as a value: its result, or why it failed. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(work: Promise<T>): Promise<Settled<T>> {
  return work.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/**
 * The call state machine: ringing → active → ended, or ringing → ended.
 * Who may do what is checked here; every transition is a conditional update
 * in the database, and only the actor (user or timer) whose update won does
 * the side effects: media closed, statistics and call entry stored, both
 * users told, the call's timers armed or removed. When timers fall due, a
 * room fails or a participant vanishes, CallSupervisor calls in here; timers
 * run on the durable scheduler, so any gateway process may end any call,
 * exactly once.
 */
@Injectable()
export class CallsService {
  private readonly logger: Logger;
  private readonly videoCalls;
  /**
   * Calls this process started ringing, so their accept needs no read first.
   * Participants never change; a state gone stale (ended on another process)
   * is caught by the accept's conditional update, which answers from the row.
   */
  private readonly ringing = new Map<string, CallRecord>();

  constructor(
    private readonly calls: CallRepository,
    private readonly timers: CallTimers,
    private readonly flags: FlagsService,
    private readonly media: CallMediaService,
    private readonly messages: DirectMessagesService,
    private readonly realtime: RealtimeService,
    private readonly clock: Clock,
    private readonly callMetrics: CallMetrics,
    private readonly experimentLog: ExperimentLog,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
  ) {
    this.logger = rootLogger.child({ component: 'calls' });
    this.videoCalls = metrics.counter('video_calls_total', 'video calls by outcome', ['outcome']);
  }

  // ---- user actions ---------------------------------------------------------

  /**
   * Starts a call, ringing. Glare: when the callee's own call to the caller
   * is still ringing, this invite answers that call instead of starting a
   * second one, and the answered call comes back.
   */
  async invite(callerId: string, calleeId: string, media: CallMedia): Promise<CallRecord> {
    return this.callMetrics.timeStep('invite', async () => {
      const at = this.clock.now();
      // The experiment's variant of the attempt: the caller's video_call value at the invite,
      // recorded as an exposure whatever the call's media (audio calls count in the variant too).
      const [callerValue, calleeValue] = await Promise.all([
        this.flags.isEnabled(VIDEO_CALL_FLAG, callerId, 'call:invite'),
        media === 'video' ? this.flags.isEnabled(VIDEO_CALL_FLAG, calleeId, 'call:invite') : true,
      ]);
      const attempt = { flagKey: VIDEO_CALL_FLAG, callerId, calleeId, media, value: callerValue, at };
      let placed: { call: CallRecord; glare: boolean };
      try {
        placed = await this.placeCall(callerId, calleeId, media, callerValue && calleeValue, at);
      } catch (err) {
        const errorCode = err instanceof DomainError ? err.code : 'INTERNAL';
        this.experimentLog.callAttempted({ ...attempt, outcome: 'refused', errorCode });
        throw err;
      }
      // Glare answered the other user's call, already counted as that user's attempt.
      if (!placed.glare) this.experimentLog.callAttempted({ ...attempt, outcome: 'placed', callId: placed.call.id });
      return placed.call;
    });
  }

  private async placeCall(
    callerId: string,
    calleeId: string,
    media: CallMedia,
    videoOnForBoth: boolean,
    now: Date,
  ): Promise<{ call: CallRecord; glare: boolean }> {
    if (callerId === calleeId) {
      throw new DomainError('VALIDATION_FAILED', 'cannot call yourself', {
        fields: [{ field: 'to', message: 'must be another user' }],
      });
    }
    // The flag is read from memory; the database checks (user, block, contacts) come first in what the caller is told.
    const videoAllowed = media !== 'video' || videoOnForBoth;
    // Checks, call, slots and ring timer: one statement.
    const created = await this.calls.createRinging(
      { callerId, calleeId, media, videoAllowed, createdAt: now, ringEndsAt: new Date(now.getTime() + this.config.calls.ringTimeoutMs) },
      (call) => this.timers.ringing(call),
    );
    if (media === 'video' && (typeof created !== 'string' || created === 'video_disabled' || created === 'busy')) {
      this.videoCalls.inc({ outcome: 'attempted' });
    }
    if (typeof created === 'string') return { call: await this.refused(created, callerId, calleeId), glare: true };

    this.rememberRinging(created);
    this.logger.info({ callId: created.id, callerId, calleeId, media }, 'call ringing');
    this.realtime.toUser(calleeId, 'call:incoming', { call: toCallDto(created) });
    this.publish(created);
    return { call: created, glare: false };
  }

  /** Why an invite stored nothing, as the caller's error; busy may be glare, which answers the other call. */
  private async refused(why: InviteRefusal, callerId: string, calleeId: string): Promise<CallRecord> {
    switch (why) {
      case 'no_such_user':
        throw DomainError.notFound('user');
      case 'blocked':
        throw new DomainError('BLOCKED', 'a block between you and this user prevents calls');
      case 'not_friends':
        throw new DomainError('NOT_FRIENDS', 'both users must have each other as contacts to call');
      case 'video_disabled':
        this.videoCalls.inc({ outcome: 'refused' });
        throw new DomainError('VIDEO_CALL_DISABLED', 'video calls are not enabled for both users');
      case 'busy': {
        const glare = await this.calls.findRinging(calleeId, callerId);
        if (glare) {
          const answered = await this.activate(glare).then(
            ({ call: active }) => active,
            (err: unknown) => {
              if (err instanceof DomainError && err.code === 'INVALID_STATE') return null;
              throw err;
            },
          );
          if (answered) return answered;
        }
        throw new DomainError('BUSY', 'you or the other user is already in a call');
      }
    }
  }

  async accept(userId: string, callId: string): Promise<CallRecord> {
    return (await this.answer(userId, callId)).call;
  }

  /** Answers the call; `whenOpen` runs on the answered call as soon as its room is open (see activate). */
  private answer<T>(
    userId: string,
    callId: string,
    whenOpen?: (planned: CallRecord) => Promise<T>,
  ): Promise<{ call: CallRecord; early?: Settled<T> }> {
    return this.callMetrics.timeStep('accept', async () => {
      const call = this.ringingCall(userId, callId) ?? (await this.participantsCall(userId, callId));
      if (call.calleeId !== userId) throw new DomainError('FORBIDDEN', 'only the callee can accept a call');
      this.requireState(call, 'ringing');
      return this.activate(call, whenOpen);
    });
  }

  /**
   * `call:accept` with `join`: answers the call, then joins the callee to
   * its media once the answer committed and the room is open. What the
   * join asks for that needs no call (plain RTP on, addresses, fields) is
   * checked before answering: refused, the call keeps ringing. A join that
   * fails after the answer leaves the call active and answers the join's
   * error with `details.call`, so the client knows it is in the call and
   * may send media:join again.
   */
  async acceptAndJoin(
    userId: string,
    callId: string,
    join: MediaJoinOptions,
    clientAddress?: string,
  ): Promise<{ call: CallRecord; media: MediaJoinResultDto }> {
    this.media.checkJoin(join, clientAddress);
    // The callee's transports are made on the room as soon as it is open, while the answer commits.
    const { call, early } = await this.answer(userId, callId, (planned) => this.media.joinOpenedRoom(planned, userId, join, clientAddress));
    try {
      // Made early: announced now the answer committed. Otherwise (the room moved, the early join
      // failed) the usual join, which finds the room wherever it is and says what went wrong.
      if (early?.ok) return { call, media: await this.media.completeJoin(call, userId, early.value) };
      return { call, media: await this.media.join(userId, call.id, join, clientAddress) };
    } catch (err) {
      if (!(err instanceof DomainError)) this.logger.error({ err, callId }, 'joining the media of an accepted call failed');
      const cause = err instanceof DomainError ? err : new DomainError('INTERNAL', 'joining the call’s media failed; try media:join');
      throw new DomainError(cause.code, cause.message, { ...cause.details, step: 'join', call: toCallDto(call) });
    }
  }

  async decline(userId: string, callId: string): Promise<CallRecord> {
    const call = await this.participantsCall(userId, callId);
    if (call.calleeId !== userId) throw new DomainError('FORBIDDEN', 'only the callee can decline a call');
    this.requireState(call, 'ringing');
    return this.endByUser(call, 'ringing', 'declined', userId);
  }

  async cancel(userId: string, callId: string): Promise<CallRecord> {
    const call = await this.participantsCall(userId, callId);
    if (call.callerId !== userId) throw new DomainError('FORBIDDEN', 'only the caller can cancel a call');
    this.requireState(call, 'ringing');
    return this.endByUser(call, 'ringing', 'cancelled', userId);
  }

  async hangUp(userId: string, callId: string): Promise<CallRecord> {
    // An active call this process answered or routes media for needs no read: its participants
    // and deadline never change, and the end's statement, conditional on the state, decides.
    const remembered = this.media.rememberedActive(callId);
    const call = remembered ? this.asParticipant(remembered, userId) : await this.participantsCall(userId, callId);
    this.requireState(call, 'active');
    // A hangup that arrives after the cap passed (before its timer ran) is the cap's end.
    const now = this.clock.now();
    if (call.maxEndsAt && call.maxEndsAt <= now) {
      const ended = await this.end(call, ['active'], 'max_duration', null, call.maxEndsAt);
      if (ended) return ended;
    }
    return this.endByUser(call, 'active', 'hangup', userId);
  }

  /** One page of the user's calls, newest first. */
  async history(
    userId: string,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ calls: CallRecord[]; nextCursor: string | null }> {
    const after = decodePageCursor(page.cursor, timeCursor);
    const limit = Math.min(Math.max(1, page.limit ?? DEFAULT_HISTORY_LIMIT), MAX_PAGE);
    const rows = await this.calls.history(userId, limit + 1, after && { at: new Date(after.at), id: after.id });
    const calls = withinResponseBytes(rows.slice(0, limit));
    const last = calls[calls.length - 1];
    const more = rows.length > calls.length;
    return { calls, nextCursor: more ? encodePageCursor({ at: last.createdAt.toISOString(), id: last.id }) : null };
  }

  /**
   * A block ends a ringing or active call between the two (`blocked`),
   * through the one end path, so its side effects happen once.
   */
  async endForBlock(blockerId: string, blockedId: string): Promise<CallRecord | null> {
    const call = await this.calls.liveCallOf(blockerId);
    if (!call || !isParticipant(call, blockedId)) return null;
    return this.end(call, ['ringing', 'active'], 'blocked', blockerId, this.clock.now());
  }

  // ---- what timers, media and presence lead to (called by CallSupervisor) ----

  /** ringing → ended (missed) when nobody answered in time. */
  async expireRing(callId: string): Promise<CallRecord | null> {
    return this.end(callId, ['ringing'], 'missed', null, this.clock.now());
  }

  /** Sends call:ending-soon once, however often the warning timer runs. */
  async warnCapEnding(callId: string): Promise<void> {
    const call = await this.calls.markWarned(callId, this.clock.now());
    if (!call || !call.maxEndsAt) return;
    const payload = { callId, endsAt: call.maxEndsAt.toISOString() };
    this.realtime.toUser(call.callerId, 'call:ending-soon', payload);
    this.realtime.toUser(call.calleeId, 'call:ending-soon', payload);
    this.logger.info({ callId, endsAt: payload.endsAt }, 'call ending soon');
  }

  /** active → ended (max_duration), recorded as ending at its deadline even when run late. */
  async endForCap(callId: string): Promise<CallRecord | null> {
    const call = await this.calls.findById(callId);
    if (!call || call.state !== 'active' || !call.maxEndsAt) return null;
    if (call.maxEndsAt.getTime() > this.clock.now().getTime() + 1000) {
      // A timer from an earlier deadline; the stored one rules.
      await this.timers.armCap(call, this.config.calls.warningBeforeMs);
      return null;
    }
    return this.end(call, ['active'], 'max_duration', null, call.maxEndsAt);
  }

  /** Ends the call when the participant still has no socket on any process. */
  async endIfStillDisconnected(callId: string, userId: string): Promise<CallRecord | null> {
    if (await this.realtime.isOnline(userId)) return null;
    const call = await this.calls.findById(callId);
    if (!call || call.state === 'ended' || !isParticipant(call, userId)) return null;
    return this.end(call, ['ringing', 'active'], 'disconnected', userId, this.clock.now());
  }

  async endForMediaFailure(callId: string): Promise<CallRecord | null> {
    return this.end(callId, ['active'], 'media_failure', null, this.clock.now());
  }

  /** Ends, at its deadline, a live call found past it (its timer was lost or never ran). */
  async endOverdue(call: CallRecord): Promise<CallRecord | null> {
    return call.state === 'active'
      ? this.end(call, ['active'], 'max_duration', null, call.maxEndsAt!)
      : this.end(call, ['ringing'], 'missed', null, call.ringEndsAt!);
  }

  // ---- transitions ----------------------------------------------------------

  /**
   * ringing → active: the room opens on its node while deadline and room's
   * node are stored with the call, its cap armed and its ring timer removed,
   * in one statement; once both are done, both participants are told. An end
   * that comes first finds the call ringing and ends it so, and the answer,
   * having lost (the call stopped ringing), closes the room again. An end
   * that comes after the answer closes the room for good: its node refuses
   * the opening if the end's close got there first.
   */
  private async activate<T>(
    call: CallRecord,
    whenOpen?: (planned: CallRecord) => Promise<T>,
  ): Promise<{ call: CallRecord; early?: Settled<T> }> {
    const answeredAt = this.clock.now();
    const maxEndsAt = new Date(answeredAt.getTime() + this.config.calls.maxDurationMs);
    let mediaNodeId: string;
    try {
      mediaNodeId = await this.media.placeRoom();
    } catch (err) {
      this.logger.error({ err, callId: call.id }, 'no media node can take the call');
      throw new DomainError('INTERNAL', 'no media node can take the call now');
    }
    const planned: CallRecord = { ...call, state: 'active', answeredAt, maxEndsAt, mediaNodeId };
    // Settles to the error, or null once the room is open.
    const opening = this.media.openRoom(planned).then(
      () => null,
      (err: unknown) => err,
    );
    // Sent right behind the opening (the node runs it once the room is open: one round trip less
    // to a media node elsewhere), beside the answer's statement; an answer that loses closes the
    // room, and what this made in it.
    const early = whenOpen && settle(whenOpen(planned));
    let openFailure: unknown = null;
    let active: CallRecord | null;
    try {
      // The cap and its warning armed and the ring timeout removed in the answer's own statement.
      const timers = this.timers.answered({ id: call.id, maxEndsAt, warnedAt: null }, this.config.calls.warningBeforeMs);
      [openFailure, active] = await Promise.all([opening, this.calls.markActive(call.id, answeredAt, maxEndsAt, mediaNodeId, timers)]);
    } catch (err) {
      this.closeUnused(planned, opening, early);
      throw err;
    }
    if (!active) {
      this.closeUnused(planned, opening, early);
      throw await this.invalidStateNow(call.id);
    }
    if (openFailure) {
      try {
        // Its node is gone: open it on another one (nobody negotiated yet, so nobody is told).
        if (!this.media.isNodeLoss(openFailure)) throw openFailure;
        active = await this.media.recover(active, 'node_lost', { announce: false });
      } catch (err) {
        this.logger.error({ err, callId: active.id }, 'opening the media room failed');
        return { call: (await this.endForMediaFailure(active.id)) ?? (await this.current(active.id)) };
      }
    }
    this.media.remember(active);
    this.logger.info({ callId: active.id, maxEndsAt: maxEndsAt.toISOString() }, 'call active');
    this.publish(active);
    return { call: active, early: openFailure ? undefined : await early };
  }

  /** A room opened for a call that did not become active is closed again, once its opening (and any early join) settled. */
  private closeUnused(call: CallRecord, opening: Promise<unknown>, early?: Promise<unknown>): void {
    void Promise.all([opening, early])
      .then(([failure]) => (failure ? null : this.media.closeRoom(call)))
      .catch((err) => this.logger.error({ err, callId: call.id }, 'closing an unused room failed'));
  }

  private async endByUser(call: CallRecord, from: CallState, reason: CallEndReason, userId: string) {
    const ended = await this.end(call, [from], reason, userId, this.clock.now());
    if (!ended) throw await this.invalidStateNow(call.id);
    return ended;
  }

  /**
   * The one way a call ends. Returns null when the call was not in `from`
   * (someone else ended or answered it first): then nothing else happens.
   * The call's timers go in the end's own statement (handlers of timers
   * that still fire find the call ended); given only its id, the
   * participants' grace timers go after it, while the room closes.
   */
  private async end(
    call: string | Pick<CallRecord, 'id' | 'callerId' | 'calleeId'>,
    from: CallState[],
    endReason: CallEndReason,
    endedById: string | null,
    endedAt: Date,
  ): Promise<CallRecord | null> {
    const callId = typeof call === 'string' ? call : call.id;
    this.ringing.delete(callId);
    const timers = this.timers.ended(callId, typeof call === 'string' ? undefined : call);
    const ended = await this.calls.end(callId, from, { endReason, endedById, endedAt }, timers);
    if (!ended) return null;
    this.logger.info({ callId, endReason, endedById }, 'call ended');
    this.callMetrics.callEnded(endReason);

    const disarmed = typeof call === 'string' ? this.timers.disarmGrace(ended).catch((err) => this.logTimerError(err, callId)) : undefined;
    let stats: MediaStatsDto | null = null;
    try {
      // Wherever the room is: its node answers with the call's media statistics.
      stats = await this.media.closeRoom(ended, true);
    } catch (err) {
      this.logger.error({ err, callId }, 'closing the media room failed');
    }
    if (stats) {
      await this.calls.storeMediaStats(callId, stats);
      ended.mediaStats = stats;
    }
    if (ended.media === 'video' && ended.answeredAt) this.videoCalls.inc({ outcome: 'completed' });
    await disarmed;
    this.publish(ended);
    try {
      // The entry a finished call leaves in its conversation; idempotent per call.
      await this.messages.appendCallEntry({
        callId,
        callerId: ended.callerId,
        calleeId: ended.calleeId,
        body: callEntryBody(ended),
      });
    } catch (err) {
      this.logger.error({ err, callId }, 'writing the call entry failed');
    }
    return ended;
  }

  // ---- small parts ----------------------------------------------------------

  /** The call, if the user takes part in it: unknown → NOT_FOUND, someone else's → FORBIDDEN. */
  private rememberRinging(call: CallRecord): void {
    if (call.state !== 'ringing') return;
    if (this.ringing.size >= MAX_RINGING_REMEMBERED) this.ringing.delete(this.ringing.keys().next().value!);
    this.ringing.set(call.id, call);
  }

  /** The remembered ringing call, taken for its accept; none when unknown here or past its ring. */
  private ringingCall(userId: string, callId: string): CallRecord | undefined {
    const call = this.ringing.get(callId);
    // Anyone else asking gets the answer from the row (the callee may still accept from here).
    if (!call || call.calleeId !== userId) return undefined;
    this.ringing.delete(callId);
    return call.ringEndsAt && call.ringEndsAt > this.clock.now() ? call : undefined;
  }

  private async participantsCall(userId: string, callId: string): Promise<CallRecord> {
    const call = await this.calls.findById(callId);
    if (!call) throw DomainError.notFound('call');
    return this.asParticipant(call, userId);
  }

  private asParticipant(call: CallRecord, userId: string): CallRecord {
    if (!isParticipant(call, userId)) throw new DomainError('FORBIDDEN', 'you are not a participant of this call');
    return call;
  }

  private requireState(call: CallRecord, state: CallState): void {
    if (call.state !== state) {
      throw new DomainError('INVALID_STATE', `the call is ${call.state}, not ${state}`, { state: call.state });
    }
  }

  private async invalidStateNow(callId: string): Promise<DomainError> {
    const call = await this.current(callId);
    return new DomainError('INVALID_STATE', `the call is already ${call.state}`, { state: call.state });
  }

  private async current(callId: string): Promise<CallRecord> {
    const call = await this.calls.findById(callId);
    if (!call) throw DomainError.notFound('call');
    return call;
  }

  /** call:state to every socket of both participants. */
  private publish(call: CallRecord): void {
    const payload = { call: toCallDto(call) };
    this.realtime.toUser(call.callerId, 'call:state', payload);
    this.realtime.toUser(call.calleeId, 'call:state', payload);
  }

  private logTimerError(err: unknown, callId: string): void {
    this.logger.error({ err, callId }, 'updating call timers failed');
  }
}
