import { SocialClient } from '@app/client';
import { CALL_END_REASONS } from '@app/contracts';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, waitUntil } from '@app/testing';
import { checkLedger } from './support/message-ledger';
import { RetryingDmSender } from './support/retrying-dm-sender';

const ENV = {
  CALL_RING_TIMEOUT_MS: '3000',
  CALL_RECONNECT_GRACE_MS: '1500',
  DM_RATE_PER_SEC: '10000',
  DM_RATE_BURST: '10000',
  LOG_LEVEL: 'info',
};

describe('gateway killed (SIGKILL) under traffic and started again', () => {
  let db: TestDatabase;
  const gateways: SpawnedGateway[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const g of gateways) await g.kill();
    await db?.drop();
  });

  it('loses no acknowledged message, stores none twice on retry, and ends every call with a reason', async () => {
    const first = await spawnGateway(db.url, ENV);
    gateways.push(first);
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => SocialClient.login(first.url, uniqueHandle(`crash${i}`))));
    // Each user's live client; replaced by one on the restarted gateway.
    const live = new Map<string, SocialClient>();
    await Promise.all(users.map(async (u) => live.set(u.id, await u.connect())));
    const clientOf = (u: SocialClient) => () => live.get(u.id)!;

    // Two calls in flight at the crash: one answered, one still ringing.
    const [ca, cb, ra, rb] = users.slice(6);
    for (const [a, b] of [
      [ca, cb],
      [ra, rb],
    ]) {
      await a.http('PUT', `/contacts/${b.id}`, {});
      await b.http('PUT', `/contacts/${a.id}`, {});
    }
    const active = (await ca.request('call:invite', { to: cb.id })).call;
    await cb.request('call:accept', { callId: active.id });
    const ringing = (await ra.request('call:invite', { to: rb.id })).call;

    const senders = [0, 2, 4].map((i) => new RetryingDmSender(clientOf(users[i]), users[i + 1].id, `sender${i}`));
    const sending = Promise.all(senders.map((s) => s.run(60, 120_000)));
    await waitUntil('traffic before the crash', () => senders.every((s) => s.acked.length >= 10));
    await first.kill();
    for (const c of live.values()) c.disconnect();

    const second = await spawnGateway(db.url, ENV);
    gateways.push(second);
    // Traffic users come back; the call participants stay away.
    await Promise.all(users.slice(0, 6).map(async (u) => live.set(u.id, await new SocialClient(second.url, u.token, u.user).connect())));
    await sending;

    const ledger = await checkLedger(
      db.url,
      senders.flatMap((s) => s.acked),
    );
    expect(ledger).toEqual({ stored: 180, lost: [], duplicated: [], gapped: [], mismatched: [] });
    expect(senders.reduce((n, s) => n + s.retried(), 0)).toBeGreaterThan(0);

    const callOf = async (u: SocialClient, id: string) =>
      (await new SocialClient(second.url, u.token, u.user).route('GET /calls', '/calls')).calls.find((c) => c.id === id);
    await waitUntil(
      'both calls ended',
      async () => (await callOf(ca, active.id))?.state === 'ended' && (await callOf(ra, ringing.id))?.state === 'ended',
    );
    const endedActive = (await callOf(cb, active.id))!;
    const endedRinging = (await callOf(rb, ringing.id))!;
    expect(CALL_END_REASONS).toContain(endedActive.endReason);
    expect(CALL_END_REASONS).toContain(endedRinging.endReason);
    expect(endedRinging.endReason).toBe('missed');

    expect((await fetch(`${second.url}/health`)).status).toBe(200);
    for (const c of live.values()) c.disconnect();
    expect(await second.stop()).toBe(0);
  }, 240_000);
});
