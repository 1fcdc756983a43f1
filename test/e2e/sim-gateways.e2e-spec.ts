import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { readEventTimes } from '../../apps/sim/src/server-timing';
import { formatReport } from '../../apps/sim/src/sim-report';
import { DEFAULT_SIM_OPTIONS, runSimulation } from '../../apps/sim/src/simulation';

/**
 * The simulator driving two gateways of one service (a media node and
 * Redis between them): users alternate between the gateways, and with one
 * friend on each side of the ring every friendship, so every message and
 * every call, spans both gateways.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = { REDIS_URL, MEDIA_WORKERS: '1' };

/** How many times a gateway handled `event`, from its /metrics. */
async function handled(gateway: SpawnedGateway, event: string): Promise<number> {
  const times = await readEventTimes(gateway.url);
  if (!times) throw new Error(`no /metrics from ${gateway.url}`);
  return times.get(event)?.count ?? 0;
}

describe('simulator against two gateways and a media node', () => {
  jest.setTimeout(120_000);
  let db: TestDatabase;
  const processes: SpawnedGateway[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of processes) if (p.process.exitCode === null && p.process.signalCode === null) await p.kill();
    await db?.drop();
  });

  it('spreads the users over both gateways, and its calls and messages cross them', async () => {
    const started = await Promise.all([
      spawnGateway(db.url, { ...BASE, NODE_ROLE: 'gateway' }),
      spawnGateway(db.url, { ...BASE, NODE_ROLE: 'gateway' }),
      spawnGateway(db.url, { ...BASE, NODE_ROLE: 'media' }),
    ]);
    processes.push(...started);
    const gateways = started.slice(0, 2);
    const urls = gateways.map((g) => g.url);
    const calls = 4;
    const report = await runSimulation({
      ...DEFAULT_SIM_OPTIONS,
      urls,
      users: 8,
      // Ring neighbours only: user i's friends are i-1 and i+1, always on the other gateway.
      friendsPerUser: 2,
      messagesPerUser: 2,
      messageRate: 50,
      calls,
      callSeconds: 2,
      concurrentCalls: calls,
      settleMs: 2000,
      seed: 11,
    });

    expect(report.errors).toEqual([]);
    expect(report).toMatchObject({ gatewayUrl: urls[0], gatewayUrls: urls, usersPerGateway: [4, 4], users: 8, friendships: 8 });
    expect(report.messages).toMatchObject({ sent: 16, delivered: 16, duplicated: 0, lost: 0, failed: 0 });
    expect(report.calls).toMatchObject({ placed: calls, connected: calls, failed: 0, endedByReason: { hangup: calls } });
    expect(report.calls.audio).toMatchObject({ toneChecks: 2 * calls, tonePassed: 2 * calls });
    expect(report.passed).toBe(true);
    // Server timing is read from both gateways.
    expect(report.timing!.serverEventMs['call:invite']).toBeGreaterThan(0);
    expect(report.timing!.serverEventMs['call:accept']).toBeGreaterThan(0);
    const printed = formatReport(report);
    for (const url of urls) expect(printed).toContain(`${url}: 4 users`);

    // Each call is invited on the caller's gateway and accepted on the callee's, the other one:
    // every gateway saw one of the two for every call, and messages were sent through both.
    for (const gateway of gateways) {
      expect((await handled(gateway, 'call:invite')) + (await handled(gateway, 'call:accept'))).toBe(calls);
      expect(await handled(gateway, 'dm:send')).toBeGreaterThan(0);
    }
    const sends = await Promise.all(gateways.map((g) => handled(g, 'dm:send')));
    expect(sends[0] + sends[1]).toBeGreaterThanOrEqual(16);
  });
});
