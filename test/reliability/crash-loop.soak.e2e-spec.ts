import { SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, sleep } from '@app/testing';
import { checkLedger } from './support/message-ledger';
import { RetryingDmSender } from './support/retrying-dm-sender';

const ENV = { DM_RATE_PER_SEC: '10000', DM_RATE_BURST: '10000', LOG_LEVEL: 'warn' };

/** The gateway SIGKILLed again and again under steady DM traffic; the ledger must stay exact. */
describe('soak: repeated gateway crashes under traffic', () => {
  let db: TestDatabase;
  let current: SpawnedGateway | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    if (current && current.process.exitCode === null) await current.kill();
    await db?.drop();
  });

  it('keeps every acknowledged message exactly once across many crashes', async () => {
    const crashes = Number(process.env.SOAK_CRASHES ?? 10);
    // spawnGateway waits for a log line at info level.
    current = await spawnGateway(db.url, { ...ENV, LOG_LEVEL: 'info' });
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => SocialClient.login(current!.url, uniqueHandle(`loop${i}`))));
    const live = new Map<string, SocialClient>();
    await Promise.all(users.map(async (u) => live.set(u.id, await u.connect())));
    const senders = [0, 2, 4, 6].map((i) => new RetryingDmSender(() => live.get(users[i].id)!, users[i + 1].id, `s${i}`));
    const perSender = 50 * (crashes + 1);
    const sending = Promise.all(senders.map((s) => s.run(perSender, 20 * 60_000)));
    for (let n = 0; n < crashes; n++) {
      const target = senders.map((s) => s.acked.length + 20);
      while (senders.some((s, i) => s.acked.length < Math.min(target[i], perSender))) await sleep(50);
      await current.kill();
      for (const c of live.values()) c.disconnect();
      current = await spawnGateway(db.url, { ...ENV, LOG_LEVEL: 'info' });
      const url = current.url;
      await Promise.all(users.map(async (u) => live.set(u.id, await new SocialClient(url, u.token, u.user).connect())));
    }
    await sending;
    const ledger = await checkLedger(
      db.url,
      senders.flatMap((s) => s.acked),
    );
    expect(ledger).toEqual({ stored: perSender * senders.length, lost: [], duplicated: [], gapped: [], mismatched: [] });
    for (const c of live.values()) c.disconnect();
    expect(await current.stop()).toBe(0);
  });
});
