import { SocialClient } from '@app/client';
import { startTestGateway, TestGateway, uniqueHandle, sleep, waitUntil } from '@app/testing';
import { checkLedger } from './support/message-ledger';
import { RetryingDmSender } from './support/retrying-dm-sender';
import { ThrowawayPostgres } from './support/throwaway-postgres';

const healthStatus = async (url: string) => (await fetch(`${url}/health`)).status;

/**
 * PostgreSQL stopped and started again under message traffic. The server is
 * a throwaway cluster of this test's own (port and data directory of its
 * own), never the shared one other tests use.
 */
describe('PostgreSQL restarted under message traffic', () => {
  let pg: ThrowawayPostgres;
  let gw: TestGateway | undefined;
  const clients: SocialClient[] = [];

  beforeAll(async () => {
    pg = await ThrowawayPostgres.create();
    gw = await startTestGateway({
      db: { url: pg.url, name: 'messaging', drop: async () => undefined },
      env: { DM_RATE_PER_SEC: '10000', DM_RATE_BURST: '10000' },
    });
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await gw?.close();
    await pg?.destroy();
  }, 60_000);

  it('acknowledges every message once the database is back, losing and doubling none', async () => {
    const url = gw!.url;
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => SocialClient.login(url, uniqueHandle(`pgr${i}`))));
    await Promise.all(users.map((u) => u.connect()));
    clients.push(...users);
    const senders = [0, 2, 4].map((i) => new RetryingDmSender(() => users[i], users[i + 1].id, `sender${i}`));
    const sending = Promise.all(senders.map((s) => s.run(60, 120_000)));
    await waitUntil('traffic before the outage', () => senders.every((s) => s.acked.length >= 10));

    await pg.stop();
    await waitUntil('health to report the database down', async () => (await healthStatus(url)) === 503);
    const ackedDuringOutage = senders.reduce((n, s) => n + s.acked.length, 0);
    await sleep(1500);
    expect(senders.reduce((n, s) => n + s.acked.length, 0)).toBe(ackedDuringOutage);
    await pg.start();

    await sending;
    await waitUntil('health to recover', async () => (await healthStatus(url)) === 200);
    const ledger = await checkLedger(
      pg.url,
      senders.flatMap((s) => s.acked),
    );
    expect(ledger).toEqual({ stored: 180, lost: [], duplicated: [], gapped: [], mismatched: [] });
    expect(senders.reduce((n, s) => n + s.retried(), 0)).toBeGreaterThan(0);
    // During the outage clients were told something went wrong, never silence or a bogus success.
    for (const s of senders) for (const code of Object.keys(s.refusals)) expect(['INTERNAL', 'NO_ANSWER']).toContain(code);
  }, 180_000);
});
