import { SocialClient, befriend } from '@app/client';
import type { CallDto } from '@app/contracts';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';

const MAX_MS = 3000;
const WARN_MS = 1500;
// A timer fires within a second of its time (one poll of the scheduler every 0.5 s), plus slack for a busy machine.
const LATE_MS = 1500;

describe('calls: the duration cap', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];

  async function friends(): Promise<[SocialClient, SocialClient]> {
    const [a, b] = await Promise.all(['a', 'b'].map(async (p) => (await SocialClient.login(gw.url, uniqueHandle(p))).connect()));
    clients.push(a, b);
    await befriend(a, b);
    return [a, b];
  }

  /** A call between two new friends, answered; `ended` resolves when its cap ends it. */
  async function answeredCall(): Promise<{ call: CallDto; ended: Promise<CallDto> }> {
    const [a, b] = await friends();
    const ringing = await a.calls.invite(b.id);
    const call = await b.calls.accept(ringing.id);
    return { call, ended: a.calls.waitForState(call.id, 'ended', MAX_MS + 5000) };
  }

  beforeAll(async () => {
    gw = await startTestGateway({
      env: { CALL_MAX_DURATION_MS: String(MAX_MS), CALL_WARNING_BEFORE_MS: String(WARN_MS) },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
  });

  it('warns both users once, then ends the call by itself at its deadline as max_duration', async () => {
    const [a, b] = await friends();
    const warnings: { who: string; at: number; endsAt: string }[] = [];
    const ends: { who: string; at: number; call: CallDto }[] = [];
    for (const [who, c] of [
      ['a', a],
      ['b', b],
    ] as const) {
      c.on('call:ending-soon', (e) => warnings.push({ who, at: Date.now(), endsAt: e.endsAt }));
      c.on('call:state', ({ call }) => call.state === 'ended' && ends.push({ who, at: Date.now(), call }));
    }
    const call = await a.calls.invite(b.id);
    // A control call answered when this one's warning arrives ends WARN_MS after it, later
    // than any repeat of this call's timers (a failed job is retried after 1 s).
    const control = a.waitFor('call:ending-soon', (e) => e.callId === call.id).then(() => answeredCall());
    const active = await b.calls.accept(call.id);
    const deadline = new Date(active.maxEndsAt!).getTime();
    expect(deadline - new Date(active.answeredAt!).getTime()).toBe(MAX_MS);

    const ended = await a.calls.waitForState(call.id, 'ended', MAX_MS + 5000);
    await b.calls.waitForState(call.id, 'ended');
    await (
      await control
    ).ended; // nothing more may arrive
    expect(ended).toMatchObject({ endReason: 'max_duration', endedAt: active.maxEndsAt, durationSeconds: MAX_MS / 1000 });

    expect(warnings.map((w) => w.who).sort()).toEqual(['a', 'b']);
    for (const w of warnings) {
      expect(w.endsAt).toBe(active.maxEndsAt);
      expect(w.at).toBeGreaterThanOrEqual(deadline - WARN_MS - 50);
      expect(w.at).toBeLessThan(deadline - WARN_MS + LATE_MS);
    }
    expect(ends.map((e) => e.who).sort()).toEqual(['a', 'b']);
    for (const e of ends) {
      expect(e.at).toBeGreaterThanOrEqual(deadline - 50);
      expect(e.at).toBeLessThan(deadline + LATE_MS);
    }

    const [stored] = await b.calls.history(1);
    expect(stored).toMatchObject({ id: call.id, state: 'ended', endReason: 'max_duration', endedAt: active.maxEndsAt });
    expect(stored).toHaveProperty('mediaStats');
    const { conversations } = await a.route('GET /conversations', '/conversations');
    expect(conversations.find((c) => c.peer.id === b.id)?.lastMessage).toMatchObject({
      kind: 'call',
      callId: call.id,
      body: 'Voice call · 00:03',
    });
    // both are free again
    const next = await b.calls.invite(a.id);
    await b.calls.cancel(next.id);
  });

  it('a call hung up just before its deadline ends once, as hangup', async () => {
    const [a, b] = await friends();
    const ends: CallDto[] = [];
    a.on('call:state', ({ call }) => call.state === 'ended' && ends.push(call));
    b.on('call:state', ({ call }) => call.state === 'ended' && ends.push(call));
    const call = await a.calls.invite(b.id);
    const warned = a.waitFor('call:ending-soon', (e) => e.callId === call.id);
    const active = await b.calls.accept(call.id);
    // Answered after this call, so its cap falls due after this call's deadline.
    const control = await answeredCall();
    const deadline = new Date(active.maxEndsAt!).getTime();

    await warned;
    const hungUp = await a.calls.hangup(call.id);
    expect(hungUp).toMatchObject({ state: 'ended', endReason: 'hangup', endedById: a.id });
    // Once the control call's cap has ended it, this call's cap would have run too.
    await control.ended;

    expect(ends).toHaveLength(2);
    expect(ends.every((c) => c.endReason === 'hangup')).toBe(true);
    const [stored] = await a.calls.history(1);
    expect(stored).toMatchObject({ id: call.id, endReason: 'hangup', endedAt: hungUp.endedAt });
    expect(new Date(stored.endedAt!).getTime()).toBeLessThan(deadline);
  });

  it('many calls at once each end on time, with one scheduler poll for all', async () => {
    const pairs = await Promise.all(Array.from({ length: 8 }, () => friends()));
    const calls = await Promise.all(
      pairs.map(async ([a, b]) => {
        const call = await a.calls.invite(b.id);
        return b.calls.accept(call.id);
      }),
    );
    const ended = await Promise.all(
      pairs.map(([a], i) => a.calls.waitForState(calls[i].id, 'ended', MAX_MS + 5000).then((c) => ({ c, at: Date.now() }))),
    );
    for (const [i, { c, at }] of ended.entries()) {
      expect(c.endReason).toBe('max_duration');
      expect(at).toBeLessThan(new Date(calls[i].maxEndsAt!).getTime() + LATE_MS);
    }
  });
});
