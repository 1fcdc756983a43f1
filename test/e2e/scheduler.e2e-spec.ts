import { SocialClient, befriend, sleep } from '@app/client';
import type { CallDto } from '@app/contracts';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, waitForValue } from '@app/testing';

// A timer fires within a second of its time, plus slack for a busy machine.
const LATE_MS = 1500;

async function friendsOn(url: string, urlB = url): Promise<[SocialClient, SocialClient]> {
  const [a, b] = await Promise.all([
    SocialClient.login(url, uniqueHandle('a')).then((c) => c.connect()),
    SocialClient.login(urlB, uniqueHandle('b')).then((c) => c.connect()),
  ]);
  await befriend(a, b);
  return [a, b];
}

/** The same user, signed in again through another gateway (tokens are valid on every process sharing the secret). */
function sameUserOn(url: string, c: SocialClient): SocialClient {
  return new SocialClient(url, c.token, c.user);
}

async function answeredCall(a: SocialClient, b: SocialClient): Promise<CallDto> {
  const call = await a.calls.invite(b.id);
  return b.calls.accept(call.id);
}

describe('scheduler: durable call timers', () => {
  let db: TestDatabase;
  const gateways: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const g of gateways.splice(0)) await g.kill().catch(() => undefined);
    await db.drop();
  });

  async function spawn(env: Record<string, string>): Promise<SpawnedGateway> {
    const g = await spawnGateway(db.url, env);
    gateways.push(g);
    return g;
  }

  it('a crash (SIGKILL) does not let a call outlive its cap: overdue calls end at start-up, the rest on time', async () => {
    const env = {
      // Room for a gateway restart (ts-node start-up) on a loaded machine before the second deadline.
      CALL_MAX_DURATION_MS: '25000',
      CALL_WARNING_BEFORE_MS: '2000',
      // long enough that nobody is ended for being away while the process is down
      CALL_RECONNECT_GRACE_MS: '120000',
    };
    // 1. A call answered, then the gateway killed; restarted only after the deadline passed.
    const first = await spawn(env);
    const [a1, b1] = await friendsOn(first.url);
    clients.push(a1, b1);
    const overdue = await answeredCall(a1, b1);
    const overdueDeadline = new Date(overdue.maxEndsAt!).getTime();
    await first.kill();
    a1.disconnect();
    b1.disconnect();
    // No process runs meanwhile, so nothing can announce the deadline: wait for the clock itself.
    await sleep(overdueDeadline - Date.now() + 500);

    const second = await spawn(env);
    const a1again = sameUserOn(second.url, a1);
    const [stored] = await a1again.calls.history(1);
    // ended during start-up, before the gateway listened, and recorded at its deadline
    expect(stored).toMatchObject({
      id: overdue.id,
      state: 'ended',
      endReason: 'max_duration',
      endedAt: overdue.maxEndsAt,
      durationSeconds: 25,
    });

    // 2. A call answered on the restarted gateway, which is killed and restarted at once:
    //    the new process ends the call at its deadline, not later.
    const [a2, b2] = await friendsOn(second.url);
    clients.push(a2, b2);
    const live = await answeredCall(a2, b2);
    const liveDeadline = new Date(live.maxEndsAt!).getTime();
    await second.kill();
    a2.disconnect();
    b2.disconnect();
    const third = await spawn(env);
    expect(Date.now()).toBeLessThan(liveDeadline - 1000); // restarted in time for the timer to matter
    const a2again = await sameUserOn(third.url, a2).connect();
    clients.push(a2again);
    const ended = await a2again.calls.waitForState(live.id, 'ended', liveDeadline - Date.now() + 10_000);
    const observedAt = Date.now();
    expect(ended).toMatchObject({ endReason: 'max_duration', endedAt: live.maxEndsAt });
    expect(observedAt).toBeGreaterThanOrEqual(liveDeadline - 50);
    expect(observedAt).toBeLessThan(liveDeadline + LATE_MS);
  }, 180_000);

  it('two gateway processes on one database end each call exactly once, whichever started it', async () => {
    const env = {
      CALL_MAX_DURATION_MS: '5000',
      CALL_WARNING_BEFORE_MS: '2000',
      REDIS_URL: 'redis://127.0.0.1:6379',
    };
    const [gwA, gwB] = await Promise.all([spawn(env), spawn(env)]);
    // callers on one process, callees on the other; half the calls started through each
    const pairs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? friendsOn(gwA.url, gwB.url) : friendsOn(gwB.url, gwA.url))),
    );
    clients.push(...pairs.flat());
    const events = new Map<string, { ended: CallDto[]; warnings: number }>();
    for (const c of pairs.flat()) {
      const seen = { ended: [] as CallDto[], warnings: 0 };
      events.set(c.id, seen);
      c.on('call:state', ({ call }) => call.state === 'ended' && seen.ended.push(call));
      c.on('call:ending-soon', () => seen.warnings++);
    }
    const calls = await Promise.all(pairs.map(([a, b]) => answeredCall(a, b)));
    // Control calls, one started through each process once the first warning is out: their
    // caps fall due well after every call above, and past a failed job's retry.
    const controls = Promise.race(pairs.map(([a]) => a.waitFor('call:ending-soon'))).then(() =>
      Promise.all(
        [friendsOn(gwA.url, gwB.url), friendsOn(gwB.url, gwA.url)].map(async (pair) => {
          const [a, b] = await pair;
          clients.push(a, b);
          const call = await answeredCall(a, b);
          return a.calls.waitForState(call.id, 'ended', 15_000);
        }),
      ),
    );
    await Promise.all(pairs.map(([a], i) => a.calls.waitForState(calls[i].id, 'ended', 15_000)));
    await controls; // any duplicate would have arrived by now

    for (const [i, [a, b]] of pairs.entries()) {
      for (const c of [a, b]) {
        const seen = events.get(c.id)!;
        expect(seen.ended).toHaveLength(1);
        expect(seen.ended[0]).toMatchObject({ id: calls[i].id, endReason: 'max_duration', endedAt: calls[i].maxEndsAt });
        expect(seen.warnings).toBe(1);
      }
    }
    // each end stored and logged by exactly one process
    const endedBy = (g: SpawnedGateway, callId: string) => g.logs.filter((l) => l.includes('"call ended"') && l.includes(callId)).length;
    for (const call of calls) {
      expect(endedBy(gwA, call.id) + endedBy(gwB, call.id)).toBe(1);
    }
    const history = await pairs[0][0].calls.history();
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ state: 'ended', endReason: 'max_duration' });
  }, 120_000);

  it('a call answered on a process that then dies is ended on time by the other process', async () => {
    const env = {
      CALL_MAX_DURATION_MS: '8000',
      CALL_WARNING_BEFORE_MS: '2000',
      CALL_RECONNECT_GRACE_MS: '120000',
      REDIS_URL: 'redis://127.0.0.1:6379',
    };
    const [gwA, gwB] = await Promise.all([spawn(env), spawn(env)]);
    const [caller, callee] = await friendsOn(gwB.url, gwA.url);
    clients.push(caller, callee);
    const call = await caller.calls.invite(callee.id);
    const active = await callee.calls.accept(call.id); // answered through A: A stored the deadline and armed the timers
    const deadline = new Date(active.maxEndsAt!).getTime();
    await gwA.kill();
    callee.disconnect();

    const ended = await caller.calls.waitForState(call.id, 'ended', deadline - Date.now() + 10_000);
    const observedAt = Date.now();
    expect(ended).toMatchObject({ endReason: 'max_duration', endedAt: active.maxEndsAt });
    expect(observedAt).toBeLessThan(deadline + LATE_MS);
    // The line is written before the push, but the two reach this process by different pipes.
    const endLine = await waitForValue(async () => gwB.logs.find((l) => l.includes('"call ended"') && l.includes(call.id)), 5_000);
    expect(endLine).toContain('max_duration');
  }, 120_000);
});
