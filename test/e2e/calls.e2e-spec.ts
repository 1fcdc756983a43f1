import { AdminClient, SocialClient, befriend } from '@app/client';
import type { CallDto } from '@app/contracts';
import { WorkerPool } from '@app/media';
import { Client } from 'pg';
import { CallRepository } from '../../libs/calls/src/call.repository';
import { pushFence, refusalCode, startTestGateway, TEST_ADMIN_TOKEN, TestGateway, uniqueHandle, waitForValue } from '@app/testing';

const RING_MS = 2500;
const GRACE_MS = 1500;

async function metricValue(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

describe('calls: signalling state machine', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];

  async function user(prefix = 'u'): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, uniqueHandle(prefix))).connect();
    clients.push(c);
    return c;
  }

  async function friends(): Promise<[SocialClient, SocialClient]> {
    const [a, b] = await Promise.all([user('a'), user('b')]);
    await befriend(a, b);
    return [a, b];
  }

  async function activeCall(a: SocialClient, b: SocialClient): Promise<CallDto> {
    const incoming = b.calls.waitForIncoming(a.id);
    const call = await a.calls.invite(b.id);
    await incoming;
    const active = a.calls.waitForState(call.id, 'active');
    await b.calls.accept(call.id);
    return active;
  }

  beforeAll(async () => {
    gw = await startTestGateway({
      env: { CALL_RING_TIMEOUT_MS: String(RING_MS), CALL_RECONNECT_GRACE_MS: String(GRACE_MS) },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
  });

  it('rings, is answered and hung up; both sides hear every change; history and call entry are stored', async () => {
    const [a, b] = await friends();
    const aStates: CallDto[] = [];
    const bStates: CallDto[] = [];
    a.on('call:state', ({ call }) => aStates.push(call));
    b.on('call:state', ({ call }) => bStates.push(call));

    const incoming = b.calls.waitForIncoming(a.id);
    const ringing = await a.calls.invite(b.id);
    expect(ringing).toMatchObject({ callerId: a.id, calleeId: b.id, media: 'audio', state: 'ringing' });
    expect((await incoming).id).toBe(ringing.id);

    const accepted = await b.calls.accept(ringing.id);
    expect(accepted.state).toBe('active');
    expect(accepted.answeredAt).toBeDefined();
    expect(new Date(accepted.maxEndsAt!).getTime() - new Date(accepted.answeredAt!).getTime()).toBe(3_600_000);
    await a.calls.waitForState(ringing.id, 'active');

    const ended = await a.calls.hangup(ringing.id);
    expect(ended).toMatchObject({ state: 'ended', endReason: 'hangup', durationSeconds: expect.any(Number) });
    await b.calls.waitForState(ringing.id, 'ended');
    await a.calls.waitForState(ringing.id, 'ended');
    expect(aStates.map((c) => c.state)).toEqual(['ringing', 'active', 'ended']);
    expect(bStates.map((c) => c.state)).toEqual(['ringing', 'active', 'ended']);

    for (const c of [a, b]) {
      const [latest] = await c.calls.history();
      expect(latest).toMatchObject({ id: ringing.id, state: 'ended', endReason: 'hangup', durationSeconds: 0 });
      expect(latest).toHaveProperty('mediaStats');
    }
    // the conversation got the call's entry
    const conversations = await waitForValue(async () => {
      const { conversations } = await a.route('GET /conversations', '/conversations');
      const conv = conversations.find((x) => x.peer.id === b.id);
      return conv?.lastMessage?.kind === 'call' ? conv : undefined;
    });
    expect(conversations.lastMessage).toMatchObject({ kind: 'call', callId: ringing.id, body: 'Voice call · 00:00' });

    // a free pair can call again
    const again = await b.calls.invite(a.id);
    await b.calls.cancel(again.id);
  });

  it('declined and cancelled calls end with their reason and free both users', async () => {
    const [a, b] = await friends();
    const first = await a.calls.invite(b.id);
    const declined = await b.calls.decline(first.id);
    expect(declined).toMatchObject({ state: 'ended', endReason: 'declined' });
    expect(declined.durationSeconds).toBeUndefined();
    expect((await a.calls.waitForState(first.id, 'ended')).endReason).toBe('declined');

    const second = await a.calls.invite(b.id);
    const cancelled = await a.calls.cancel(second.id);
    expect(cancelled).toMatchObject({ state: 'ended', endReason: 'cancelled' });
    expect((await b.calls.waitForState(second.id, 'ended')).endReason).toBe('cancelled');

    const history = await a.calls.history(2);
    expect(history.map((c) => [c.id, c.endReason])).toEqual([
      [second.id, 'cancelled'],
      [first.id, 'declined'],
    ]);
  });

  it('a call nobody answers ends as missed after the ring timeout', async () => {
    const [a, b] = await friends();
    const started = Date.now();
    const call = await a.calls.invite(b.id);
    const ended = await b.calls.waitForState(call.id, 'ended', RING_MS + 5000);
    const waited = Date.now() - started;
    expect(ended.endReason).toBe('missed');
    expect(waited).toBeGreaterThanOrEqual(RING_MS - 50);
    expect(waited).toBeLessThan(RING_MS + 2000);
    expect(await refusalCode(b.calls.accept(call.id))).toBe('INVALID_STATE');
  });

  it('refuses a third party with BUSY, and of two simultaneous callers lets exactly one ring', async () => {
    const [a, b] = await friends();
    const [c, d] = await Promise.all([user('c'), user('d')]);
    await Promise.all([befriend(c, a), befriend(c, b), befriend(d, b)]);

    const call = await a.calls.invite(b.id);
    expect(await refusalCode(c.calls.invite(b.id))).toBe('BUSY');
    expect(await refusalCode(c.calls.invite(a.id))).toBe('BUSY');
    await b.calls.accept(call.id);
    expect(await refusalCode(c.calls.invite(b.id))).toBe('BUSY');
    await a.calls.hangup(call.id);

    const results = await Promise.allSettled([c.calls.invite(b.id), d.calls.invite(b.id)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason.code).toBe('BUSY');
    const winner = (won[0] as PromiseFulfilledResult<CallDto>).value;
    await (winner.callerId === c.id ? c : d).calls.cancel(winner.id);
  });

  it('glare: inviting someone whose call to you is ringing answers that call', async () => {
    const [a, b] = await friends();
    const call = await a.calls.invite(b.id);
    const answered = await b.calls.invite(a.id);
    expect(answered).toMatchObject({ id: call.id, state: 'active', callerId: a.id, calleeId: b.id });
    await a.calls.waitForState(call.id, 'active');
    await b.calls.hangup(call.id);
  });

  it('glare at the same moment: two users calling each other end up in one call', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await friends();
      const [fromA, fromB] = await Promise.all([a.calls.invite(b.id), b.calls.invite(a.id)]);
      expect(fromA.id).toBe(fromB.id);
      const active = await a.calls.waitForState(fromA.id, 'active');
      expect(active.state).toBe('active');
      expect(await a.calls.history()).toHaveLength(1);
      await a.calls.hangup(fromA.id);
    }
  });

  it("refuses outsiders, unknown calls and moves that are not the user's to make", async () => {
    const [a, b] = await friends();
    const outsider = await user('x');
    const call = await a.calls.invite(b.id);

    for (const op of ['accept', 'decline', 'cancel', 'hangup'] as const) {
      expect(await refusalCode(outsider.calls[op](call.id))).toBe('FORBIDDEN');
      expect(await refusalCode(a.calls[op]('00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    }
    expect(await refusalCode(a.calls.accept(call.id))).toBe('FORBIDDEN'); // caller cannot accept
    expect(await refusalCode(a.calls.decline(call.id))).toBe('FORBIDDEN');
    expect(await refusalCode(b.calls.cancel(call.id))).toBe('FORBIDDEN'); // callee cannot cancel
    expect(await refusalCode(a.calls.hangup(call.id))).toBe('INVALID_STATE'); // not active yet
    expect(await refusalCode(b.calls.hangup(call.id))).toBe('INVALID_STATE');

    await b.calls.accept(call.id);
    expect(await refusalCode(b.calls.accept(call.id))).toBe('INVALID_STATE');
    expect(await refusalCode(b.calls.decline(call.id))).toBe('INVALID_STATE');
    expect(await refusalCode(a.calls.cancel(call.id))).toBe('INVALID_STATE');
    expect(await refusalCode(outsider.calls.hangup(call.id))).toBe('FORBIDDEN');

    await b.calls.hangup(call.id);
    expect(await refusalCode(a.calls.hangup(call.id))).toBe('INVALID_STATE');
    expect(await refusalCode(b.calls.accept(call.id))).toBe('INVALID_STATE');
    // the outsider's history does not show it
    expect(await outsider.calls.history()).toEqual([]);
  });

  it('checks who may call: contacts both ways, no block, a real other user, a valid payload', async () => {
    const [a, b] = await Promise.all([user('a'), user('b')]);
    expect(await refusalCode(a.calls.invite(b.id))).toBe('NOT_FRIENDS');
    await a.contacts.add(b.id);
    expect(await refusalCode(a.calls.invite(b.id))).toBe('NOT_FRIENDS'); // one-way is not enough
    await b.contacts.add(a.id);
    await b.contacts.block(a.id);
    expect(await refusalCode(a.calls.invite(b.id))).toBe('BLOCKED');
    expect(await refusalCode(b.calls.invite(a.id))).toBe('BLOCKED');
    await b.contacts.unblock(a.id);

    expect(await refusalCode(a.calls.invite(a.id))).toBe('VALIDATION_FAILED');
    expect(await refusalCode(a.calls.invite('00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    for (const payload of [{}, { to: 'nope' }, { to: b.id, media: 'hologram' }, null, 'x']) {
      const ack = await a.rawRequest('call:invite', payload);
      expect(ack).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    }
    for (const event of ['call:accept', 'call:decline', 'call:cancel', 'call:hangup']) {
      const ack = await a.rawRequest(event, { callId: 42 });
      expect(ack).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', details: { fields: [{ field: 'callId' }] } } });
    }
    const res = await fetch(`${gw.url}/calls?limit=0`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(res.status).toBe(400);
    expect((await fetch(`${gw.url}/calls`)).status).toBe(401);

    const call = await a.calls.invite(b.id);
    await a.calls.cancel(call.id);
  });

  it('video calls need the video_call flag for both users, and are counted', async () => {
    const [a, b] = await friends();
    const attempted = 'video_calls_total{outcome="attempted"}';
    const refused = 'video_calls_total{outcome="refused"}';
    const completed = 'video_calls_total{outcome="completed"}';
    const before = {
      attempted: await metricValue(gw.url, attempted),
      refused: await metricValue(gw.url, refused),
      completed: await metricValue(gw.url, completed),
    };
    expect(await refusalCode(a.calls.invite(b.id, 'video'))).toBe('VIDEO_CALL_DISABLED');

    const admin = new AdminClient(gw.url, TEST_ADMIN_TOKEN);
    await admin.setFlag('video_call', { enabled: true, allowUserIds: [a.id] });
    await waitForValue(async () => ((await a.flags.get()).video_call ? true : undefined));
    expect(await refusalCode(a.calls.invite(b.id, 'video'))).toBe('VIDEO_CALL_DISABLED'); // only one of the two

    await admin.setFlag('video_call', { enabled: true, allowUserIds: [a.id, b.id] });
    await waitForValue(async () => ((await b.flags.get()).video_call ? true : undefined));
    const call = await a.calls.invite(b.id, 'video');
    expect(call.media).toBe('video');
    await b.calls.accept(call.id);
    await a.calls.hangup(call.id);
    await admin.setFlag('video_call', { enabled: false, allowUserIds: [] });

    expect(await metricValue(gw.url, attempted)).toBe(before.attempted + 3);
    expect(await metricValue(gw.url, refused)).toBe(before.refused + 2);
    expect(await metricValue(gw.url, completed)).toBe(before.completed + 1);
  });

  /** Grace timers of a call stored in the scheduler's queue, in any state. */
  async function graceTimers(callId: string): Promise<number> {
    const db = new Client({ connectionString: gw.db.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'kind' = 'disconnect-grace' AND data->>'callId' = $1`,
        [callId],
      );
      return rows[0].n;
    } finally {
      await db.end();
    }
  }

  it('keeps the call when a participant reconnects within the grace period', async () => {
    const [a, b] = await friends();
    const call = await activeCall(a, b);
    b.disconnect();
    // The server has seen the disconnect once the grace timer is stored.
    await waitForValue(async () => ((await graceTimers(call.id)) > 0 ? true : undefined));
    await b.connect();
    await waitForValue(async () => ((await graceTimers(call.id)) === 0 ? true : undefined));
    // A control call whose participant leaves after b came back: once its grace has ended
    // it, b's grace would have ended b's call too, had it not been called off.
    const [c, d] = await friends();
    const control = await activeCall(c, d);
    d.disconnect();
    expect(await c.calls.waitForState(control.id, 'ended', GRACE_MS + 5000)).toMatchObject({ endReason: 'disconnected' });
    const [latest] = await a.calls.history(1);
    expect(latest).toMatchObject({ id: call.id, state: 'active' });
    await b.calls.hangup(call.id);
  });

  it('ends the call as disconnected when a participant stays away for the grace period', async () => {
    const [a, b] = await friends();
    const call = await activeCall(a, b);
    const started = Date.now();
    b.disconnect();
    const ended = await a.calls.waitForState(call.id, 'ended', GRACE_MS + 5000);
    expect(ended).toMatchObject({ endReason: 'disconnected', endedById: b.id });
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS - 100);
    await b.connect();
    const [latest] = await b.calls.history(1);
    expect(latest).toMatchObject({ id: call.id, endReason: 'disconnected' });
  });

  it('hangs up a call it answered without reading its row; one ended unheard elsewhere is INVALID_STATE', async () => {
    const reads = jest.spyOn(gw.get(CallRepository), 'findById');
    try {
      const [a, b] = await friends();
      const call = await activeCall(a, b);
      reads.mockClear();
      expect(await a.calls.hangup(call.id)).toMatchObject({ id: call.id, state: 'ended', endReason: 'hangup', endedById: a.id });
      expect(reads).not.toHaveBeenCalled();

      // Ended by a statement this process hears nothing of (another process's end, its notification
      // not yet here): the remembered entry still says active, and the end's own statement refuses.
      const [c, d] = await friends();
      const other = await activeCall(c, d);
      const db = new Client({ connectionString: gw.db.url });
      await db.connect();
      try {
        await db.query(`UPDATE calls SET state = 'ended', ended_at = now(), end_reason = 'hangup' WHERE id = $1`, [other.id]);
      } finally {
        await db.end();
      }
      const refused = await c.calls.hangup(other.id).catch((err: { code: string; details?: { state?: string } }) => err);
      expect(refused).toMatchObject({ code: 'INVALID_STATE', details: { state: 'ended' } });
    } finally {
      reads.mockRestore();
    }
  });

  it('of two participants hanging up at the same moment, exactly one ends the call', async () => {
    const [a, b] = await friends();
    const ends: CallDto[] = [];
    a.on('call:state', ({ call }) => call.state === 'ended' && ends.push(call));
    const call = await activeCall(a, b);
    const results = await Promise.allSettled([a.calls.hangup(call.id), b.calls.hangup(call.id)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason.code).toBe('INVALID_STATE');
    await pushFence(b, [a]); // any second end would have reached a before this
    expect(ends).toHaveLength(1);
  });

  it('of two sockets of the callee accepting at once, one answers and the other gets INVALID_STATE', async () => {
    const [a, b] = await friends();
    const b2 = await (await SocialClient.login(gw.url, b.user.handle)).connect();
    clients.push(b2);
    const incoming = b2.calls.waitForIncoming(a.id);
    const call = await a.calls.invite(b.id);
    await incoming;
    const results = await Promise.allSettled([b.calls.accept(call.id), b2.calls.accept(call.id)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.code).toBe('INVALID_STATE');
    await b2.calls.hangup(call.id);
  });

  it('keeps an active call when its media worker dies: the room moves and both are told to negotiate again', async () => {
    const [a, b] = await friends();
    const call = await activeCall(a, b);
    const told = Promise.all([a, b].map((u) => u.waitFor('media:restart', (e) => e.callId === call.id, 15_000)));
    const [worker] = gw.get(WorkerPool).workers();
    process.kill(worker.pid, 'SIGKILL');
    expect((await told).map((e) => e.reason)).toEqual(['worker_died', 'worker_died']);
    // Still active, and its room answers again on the replacement worker.
    expect((await a.calls.history(1))[0]).toMatchObject({ id: call.id, state: 'active' });
    await a.request('media:capabilities', { callId: call.id });
    await a.calls.hangup(call.id);
    const next = await activeCall(b, a);
    await a.calls.hangup(next.id);
  });

  it('lists history newest first, limited', async () => {
    const [a, b] = await friends();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const call = await a.calls.invite(b.id);
      ids.push(call.id);
      await b.calls.decline(call.id);
    }
    expect((await a.calls.history(2)).map((c) => c.id)).toEqual([ids[2], ids[1]]);
    expect((await b.calls.history()).map((c) => c.id)).toEqual([...ids].reverse());
  });
});
