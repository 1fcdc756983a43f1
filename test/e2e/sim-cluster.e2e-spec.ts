import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { DEFAULT_SIM_OPTIONS, runSimulation } from '../../apps/sim/src/simulation';

/**
 * The simulator against a service of several processes (a gateway and two
 * media nodes, Redis between them): the node holding the calls' rooms is
 * SIGKILLed while they talk, the rooms move to the other node
 * (`node_lost`), the simulated clients negotiate again by themselves, and
 * the run passes only if their tones are heard again after the restart.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = { REDIS_URL, MEDIA_WORKERS: '1', CALL_RECONNECT_GRACE_MS: '30000', MEDIA_REQUEST_TIMEOUT_MS: '1000' };

/** Consumers open in a media node, from its /metrics. */
async function consumersOf(node: SpawnedGateway): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('media_consumers '));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('simulator against a gateway and two media nodes', () => {
  jest.setTimeout(180_000);
  let db: TestDatabase;
  const processes: SpawnedGateway[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of processes) await p.kill();
    await db?.drop();
  });

  it('brings every call back after the node holding it is killed, re-checks the tones and reports the restarts', async () => {
    const gateway = await spawnGateway(db.url, { ...BASE, NODE_ROLE: 'gateway' });
    processes.push(gateway);
    const nodes = await Promise.all([1, 2].map(() => spawnGateway(db.url, { ...BASE, NODE_ROLE: 'media' })));
    processes.push(...nodes);
    const calls = 2;
    // Once every leg of both calls consumes, kill the node holding the most of them (both, or one of the two calls).
    let killed: SpawnedGateway | undefined;
    const killer = (async () => {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const counts = await Promise.all(nodes.map(consumersOf));
        if (counts[0] + counts[1] >= 2 * calls) {
          killed = counts[0] >= counts[1] ? nodes[0] : nodes[1];
          await killed.kill();
          return;
        }
        if (Date.now() > deadline) throw new Error('the calls never carried media');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const report = await runSimulation({
      ...DEFAULT_SIM_OPTIONS,
      url: gateway.url,
      users: 4,
      messagesPerUser: 1,
      messageRate: 50,
      calls,
      callSeconds: 3,
      concurrentCalls: calls,
      settleMs: 2000,
      seed: 5,
    });
    await killer;

    expect(killed).toBeDefined();
    expect(report.errors).toEqual([]);
    expect(report.calls).toMatchObject({ placed: calls, connected: calls, failed: 0, endedByReason: { hangup: calls } });
    expect(report.calls.restarts).toBeGreaterThanOrEqual(1);
    expect(report.calls.callsRestarted).toBeGreaterThanOrEqual(1);
    expect(report.calls.audio).toMatchObject({ toneChecks: 2 * calls, tonePassed: 2 * calls });
    expect(report.passed).toBe(true);
  });
});
