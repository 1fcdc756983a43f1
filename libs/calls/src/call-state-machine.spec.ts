import { DomainError } from '@app/contracts';
import type { CallRecord } from './call-record';
import { CallsHarness, callsHarness } from '../../../test/support/in-memory-calls';

// The production durations, run in virtual time.
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RING_TIMEOUT = 45 * SECOND;
const CAP = 60 * MINUTE;
const WARNING_BEFORE = 60 * SECOND;
const GRACE = 15 * SECOND;
const START = new Date('2026-03-01T09:00:00.000Z');

/** Moves virtual time forward, running every timer due meanwhile and letting its work finish. */
async function advance(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
  await settle();
}

/** Lets pending promise chains (several awaits deep) run to completion; no time passes. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const caller = 'a0000000-0000-4000-8000-00000000000a';
const callee = 'b0000000-0000-4000-8000-00000000000b';

describe('call state machine on virtual time', () => {
  let h: CallsHarness;

  beforeEach(async () => {
    // setImmediate stays real: settle() uses it to drain promise chains.
    jest.useFakeTimers({ now: START, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    h = await callsHarness();
    await h.realtime.connect(caller);
    await h.realtime.connect(callee);
  });

  afterEach(() => {
    h.supervisor.onModuleDestroy();
    expect(h.scheduler.failures).toEqual([]);
    jest.useRealTimers();
  });

  const state = (id: string) => h.repository.rows.get(id)!.state;
  const endedStates = (userId: string) => h.realtime.eventsTo(userId, 'call:state').filter((e) => e.call.state === 'ended');

  async function answered(): Promise<CallRecord> {
    const ringing = await h.calls.invite(caller, callee, 'audio');
    return h.calls.accept(callee, ringing.id);
  }

  it('uses the production durations', () => {
    expect(h.config.calls).toEqual({
      ringTimeoutMs: RING_TIMEOUT,
      maxDurationMs: CAP,
      warningBeforeMs: WARNING_BEFORE,
      reconnectGraceMs: GRACE,
      qualityIntervalMs: expect.any(Number),
    });
  });

  it('rings for 45 s, then the call is missed, recorded at its ring deadline, and both are told once', async () => {
    const call = await h.calls.invite(caller, callee, 'audio');
    expect(h.realtime.eventsTo(callee, 'call:incoming')).toHaveLength(1);

    await advance(RING_TIMEOUT - 1);
    expect(state(call.id)).toBe('ringing');

    await advance(1);
    expect(h.repository.rows.get(call.id)).toMatchObject({
      state: 'ended',
      endReason: 'missed',
      endedAt: new Date(START.getTime() + RING_TIMEOUT),
      endedById: null,
    });
    for (const user of [caller, callee]) expect(endedStates(user)).toHaveLength(1);
    expect(h.entries).toEqual([{ callId: call.id, body: 'Missed voice call' }]);
    // Both are free again.
    expect(await h.repository.liveCallOf(caller)).toBeNull();
  });

  it('an answer within the ring time stops the ring timeout', async () => {
    const ringing = await h.calls.invite(caller, callee, 'audio');
    await advance(RING_TIMEOUT - SECOND);
    await h.calls.accept(callee, ringing.id);
    await advance(10 * MINUTE);
    expect(state(ringing.id)).toBe('active');
    expect(h.media.rooms.has(ringing.id)).toBe(true);
  });

  it('warns both 60 s before the 60-minute cap and ends the call at it, exactly once', async () => {
    await advance(2 * SECOND);
    const call = await answered();
    const answeredAt = START.getTime() + 2 * SECOND;
    expect(call.maxEndsAt).toEqual(new Date(answeredAt + CAP));

    await advance(CAP - WARNING_BEFORE - 1);
    expect(h.realtime.eventsTo(caller, 'call:ending-soon')).toHaveLength(0);
    await advance(1);
    for (const user of [caller, callee]) {
      expect(h.realtime.eventsTo(user, 'call:ending-soon')).toEqual([
        { callId: call.id, endsAt: new Date(answeredAt + CAP).toISOString() },
      ]);
    }

    await advance(WARNING_BEFORE - 1);
    expect(state(call.id)).toBe('active');
    await advance(1);
    expect(h.repository.rows.get(call.id)).toMatchObject({
      state: 'ended',
      endReason: 'max_duration',
      endedAt: new Date(answeredAt + CAP),
    });
    expect(h.media.rooms.has(call.id)).toBe(false);
    expect(h.repository.rows.get(call.id)!.mediaStats).not.toBeNull();
    expect(h.entries).toEqual([{ callId: call.id, body: 'Voice call · 1:00:00' }]);

    // Another hour: nothing more happens, no timer is left behind.
    await advance(CAP);
    for (const user of [caller, callee]) {
      expect(endedStates(user)).toHaveLength(1);
      expect(h.realtime.eventsTo(user, 'call:ending-soon')).toHaveLength(1);
    }
    expect(h.scheduler.pendingCount()).toBe(0);
  });

  it('a hangup before the cap ends the call as hangup and disarms the cap', async () => {
    const call = await answered();
    await advance(30 * MINUTE);
    const ended = await h.calls.hangUp(caller, call.id);
    expect(ended).toMatchObject({ endReason: 'hangup', endedById: caller });
    await advance(CAP);
    expect(endedStates(callee)).toHaveLength(1);
    expect(h.realtime.eventsTo(callee, 'call:ending-soon')).toHaveLength(0);
    expect(h.scheduler.pendingCount()).toBe(0);
  });

  it('a hangup after the cap passed, before its timer ran, is the cap: ended at the deadline', async () => {
    h.scheduler.loseArms = true;
    const call = await answered();
    await advance(CAP + 3 * SECOND);
    const ended = await h.calls.hangUp(callee, call.id);
    expect(ended).toMatchObject({ endReason: 'max_duration', endedById: null, endedAt: call.maxEndsAt });
  });

  it('a cap whose timer was lost is ended by the overdue sweep within seconds, recorded at its deadline', async () => {
    await h.supervisor.onApplicationBootstrap();
    h.scheduler.loseArms = true;
    const call = await answered();
    await advance(CAP);
    expect(state(call.id)).toBe('active');
    await advance(7 * SECOND); // one 5 s sweep plus its 2 s allowance
    expect(h.repository.rows.get(call.id)).toMatchObject({
      state: 'ended',
      endReason: 'max_duration',
      endedAt: call.maxEndsAt,
    });
  });

  it('a participant gone for the 15 s grace ends the call as disconnected', async () => {
    const call = await answered();
    await advance(5 * MINUTE);
    await h.realtime.disconnect(callee);
    await advance(GRACE - 1);
    expect(state(call.id)).toBe('active');
    await advance(1);
    expect(h.repository.rows.get(call.id)).toMatchObject({
      state: 'ended',
      endReason: 'disconnected',
      endedById: callee,
      endedAt: new Date(START.getTime() + 5 * MINUTE + GRACE),
    });
  });

  it('a participant back within the grace keeps the call going', async () => {
    const call = await answered();
    await h.realtime.disconnect(caller);
    await advance(GRACE - SECOND);
    await h.realtime.connect(caller);
    await advance(10 * MINUTE);
    expect(state(call.id)).toBe('active');
  });

  it('a grace that ends while the participant is back (another process saw them) leaves the call', async () => {
    const call = await answered();
    await h.realtime.disconnect(caller);
    // Online again without this process hearing of it (their socket is elsewhere).
    (h.realtime as unknown as { online: Set<string> }).online.add(caller);
    await advance(GRACE);
    expect(state(call.id)).toBe('active');
  });

  it('a room whose node is lost moves to a live node; with none for MEDIA_RECOVERY_TIMEOUT_MS the call ends as media_failure', async () => {
    const call = await answered();
    h.repository.rows.get(call.id)!.mediaNodeId = 'node-gone';
    await h.recovery.sweepLostRooms();
    expect(h.media.restarts).toEqual([{ callId: call.id, reason: 'node_lost' }]);
    expect(state(call.id)).toBe('active');

    // Now no node is left: the call keeps going for the recovery timeout, then ends.
    h.repository.rows.get(call.id)!.mediaNodeId = 'node-gone';
    h.media.nodes = [];
    await h.recovery.sweepLostRooms();
    await advance(h.config.media.recoveryTimeoutMs - 1);
    await h.recovery.sweepLostRooms();
    expect(state(call.id)).toBe('active');
    await advance(1);
    await h.recovery.sweepLostRooms();
    expect(h.repository.rows.get(call.id)).toMatchObject({ state: 'ended', endReason: 'media_failure' });
  });

  it('a room on a node this process has not seen yet (just started, used by another process) is left where it is', async () => {
    const call = await answered();
    h.media.nodes = ['node-1', 'node-new'];
    h.media.snapshot = ['node-1'];
    h.repository.rows.get(call.id)!.mediaNodeId = 'node-new';
    await h.recovery.sweepLostRooms();
    expect(h.media.restarts).toEqual([]);
    expect(h.repository.rows.get(call.id)!.mediaNodeId).toBe('node-new');
    // Gone from the heartbeats too: lost, and moved.
    h.media.nodes = ['node-1'];
    await h.recovery.sweepLostRooms();
    expect(h.media.restarts).toEqual([{ callId: call.id, reason: 'node_lost' }]);
  });

  it('a hang-up closes the call’s room wherever it is and keeps its statistics', async () => {
    const call = await answered();
    expect(h.repository.rows.get(call.id)!.mediaNodeId).toBe('node-1');
    await h.calls.hangUp(caller, call.id);
    expect(h.media.rooms.has(call.id)).toBe(false);
    expect(h.repository.rows.get(call.id)!.mediaStats).not.toBeNull();
  });

  it('at start-up ends overdue calls at their deadlines and re-arms live ones, with a fresh grace for everyone', async () => {
    const t = START.getTime();
    const other = (n: number) => `c0000000-0000-4000-8000-00000000000${n}`;
    const overdue = h.repository.insert({
      id: 'd0000000-0000-4000-8000-000000000001',
      callerId: other(1),
      calleeId: other(2),
      state: 'active',
      createdAt: new Date(t - CAP - 2 * MINUTE),
      answeredAt: new Date(t - CAP - MINUTE),
      maxEndsAt: new Date(t - MINUTE),
    });
    const capped = h.repository.insert({
      id: 'd0000000-0000-4000-8000-000000000002',
      callerId: caller,
      calleeId: callee,
      state: 'active',
      createdAt: new Date(t - 50 * MINUTE),
      answeredAt: new Date(t - 50 * MINUTE),
      maxEndsAt: new Date(t + 10 * MINUTE),
    });
    const ringing = h.repository.insert({
      id: 'd0000000-0000-4000-8000-000000000003',
      callerId: other(3),
      calleeId: other(4),
      state: 'ringing',
      createdAt: new Date(t - 25 * SECOND),
      ringEndsAt: new Date(t + 20 * SECOND),
    });
    await h.realtime.connect(other(3));
    await h.realtime.connect(other(4));

    await h.supervisor.onApplicationBootstrap();
    expect(h.repository.rows.get(overdue.id)).toMatchObject({ state: 'ended', endReason: 'max_duration', endedAt: overdue.maxEndsAt });

    await advance(GRACE);
    // Everyone of the live calls is connected: the fresh grace ends nothing.
    expect(state(capped.id)).toBe('active');
    expect(state(ringing.id)).toBe('ringing');
    await advance(20 * SECOND - GRACE);
    expect(h.repository.rows.get(ringing.id)).toMatchObject({ state: 'ended', endReason: 'missed', endedAt: ringing.ringEndsAt });
    await advance(10 * MINUTE - 20 * SECOND);
    expect(h.repository.rows.get(capped.id)).toMatchObject({ state: 'ended', endReason: 'max_duration', endedAt: capped.maxEndsAt });
    expect(h.realtime.eventsTo(caller, 'call:ending-soon')).toHaveLength(1);
  });

  it('at start-up a participant who does not come back within the grace ends their call', async () => {
    const gone = 'e0000000-0000-4000-8000-00000000000e';
    const call = h.repository.insert({
      id: 'd0000000-0000-4000-8000-000000000004',
      callerId: caller,
      calleeId: gone,
      state: 'active',
      createdAt: START,
      answeredAt: START,
      maxEndsAt: new Date(START.getTime() + CAP),
    });
    await h.supervisor.onApplicationBootstrap();
    await advance(GRACE);
    expect(h.repository.rows.get(call.id)).toMatchObject({ state: 'ended', endReason: 'disconnected', endedById: gone });
  });

  describe('who may do what', () => {
    const refusal = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DomainError);
      return (err as DomainError).code;
    };

    it('only the callee accepts or declines, only the caller cancels, outsiders get FORBIDDEN', async () => {
      const call = await h.calls.invite(caller, callee, 'audio');
      expect(await refusal(h.calls.accept(caller, call.id))).toBe('FORBIDDEN');
      expect(await refusal(h.calls.decline(caller, call.id))).toBe('FORBIDDEN');
      expect(await refusal(h.calls.cancel(callee, call.id))).toBe('FORBIDDEN');
      expect(await refusal(h.calls.hangUp('f0000000-0000-4000-8000-00000000000f', call.id))).toBe('FORBIDDEN');
      expect(await refusal(h.calls.hangUp(caller, call.id))).toBe('INVALID_STATE');
    });

    it('an accept after the ring timed out is INVALID_STATE', async () => {
      const call = await h.calls.invite(caller, callee, 'audio');
      await advance(RING_TIMEOUT);
      expect(await refusal(h.calls.accept(callee, call.id))).toBe('INVALID_STATE');
    });

    it('an accept of a call ended on another process meanwhile is INVALID_STATE and leaves no room', async () => {
      const call = await h.calls.invite(caller, callee, 'audio');
      // Cancelled elsewhere: this process still remembers the call ringing.
      h.repository.rows.get(call.id)!.state = 'ended';
      const err = await h.calls.accept(callee, call.id).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'INVALID_STATE', details: { state: 'ended' } });
      await settle();
      expect(h.media.rooms.has(call.id)).toBe(false);
      expect(state(call.id)).toBe('ended');
    });

    it('two users calling each other get one answered call (glare); a third caller gets BUSY', async () => {
      const first = await h.calls.invite(caller, callee, 'audio');
      const glare = await h.calls.invite(callee, caller, 'audio');
      expect(glare).toMatchObject({ id: first.id, state: 'active' });
      expect(await refusal(h.calls.invite('f0000000-0000-4000-8000-00000000000f', callee, 'audio'))).toBe('BUSY');
    });

    it('a video call is refused while the flag is off for either user', async () => {
      expect(await refusal(h.calls.invite(caller, callee, 'video'))).toBe('VIDEO_CALL_DISABLED');
    });

    it('records each invite for the experiment in the caller’s variant: placed with its call, refused with its code; glare adds none', async () => {
      const first = await h.calls.invite(caller, callee, 'audio');
      await h.calls.invite(callee, caller, 'audio');
      await refusal(h.calls.invite('f0000000-0000-4000-8000-00000000000f', callee, 'video'));
      expect(h.attempts).toEqual([
        {
          flagKey: 'video_call',
          callerId: caller,
          calleeId: callee,
          media: 'audio',
          value: false,
          outcome: 'placed',
          callId: first.id,
          at: START,
        },
        {
          flagKey: 'video_call',
          callerId: 'f0000000-0000-4000-8000-00000000000f',
          calleeId: callee,
          media: 'video',
          value: false,
          outcome: 'refused',
          errorCode: 'VIDEO_CALL_DISABLED',
          at: START,
        },
      ]);
    });
  });
});
