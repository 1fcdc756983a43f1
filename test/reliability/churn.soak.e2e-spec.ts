import { writeFileSync } from 'node:fs';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { runSimulation } from '../../apps/sim/src/simulation';
import { CHURN_MS, churnLoad, WARM_UP_SHARE } from './support/churn-load';
import { median, mediaSettled, sampleGateway } from './support/gateway-memory';
import { INSPECTOR_NODE_ARGS } from '@app/harness';
import { SoakWatch, warningDigest } from './support/soak-watch';

/** The gateway's pool; with its one LISTEN connection, the most it may hold. */
const POOL_SIZE = 20;
/**
 * For a diagnosis: SOAK_GATEWAY_NODE_ARGS adds Node flags to the gateway
 * (e.g. "--trace-gc"), SOAK_GATEWAY_LOG names a file for its output that is
 * not a JSON log line (what such flags print).
 */
const EXTRA_NODE_ARGS = process.env.SOAK_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

/**
 * Calls keep starting and ending and messages keep flowing against one
 * gateway process for CHURN_MS; its memory after warm-up must stay flat,
 * and once the last call ended nothing may be left behind: no mediasoup
 * router, transport, producer or consumer, no pending timer job, no extra
 * database connection or handle.
 */
describe('soak: churn over time, memory flat', () => {
  let db: TestDatabase;
  let gw: SpawnedGateway | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    gw = await spawnGateway(
      db.url,
      { DM_RATE_PER_SEC: '1000', DM_RATE_BURST: '1000', LOG_LEVEL: 'info', MEDIA_WORKERS: '2', DATABASE_POOL_SIZE: String(POOL_SIZE) },
      { nodeArgs: [...INSPECTOR_NODE_ARGS, ...EXTRA_NODE_ARGS] },
    );
  });
  afterAll(async () => {
    if (process.env.SOAK_GATEWAY_LOG && gw)
      writeFileSync(process.env.SOAK_GATEWAY_LOG, gw.logs.filter((l) => !l.startsWith('{')).join('\n'));
    if (gw && gw.process.exitCode === null) await gw.kill();
    await db?.drop();
  });

  it(`holds calls and messages for ${Math.round(CHURN_MS / 60_000)} min with flat memory and nothing left behind`, async () => {
    const url = gw!.url;
    const watch = await SoakWatch.start(db.url, [{ name: 'gateway', gateway: gw! }], { churnMs: CHURN_MS, warmUpShare: WARM_UP_SHARE });
    let report;
    try {
      report = await runSimulation(churnLoad({ url }));
    } finally {
      watch.stop();
    }
    // Everything a call held is gone once the last one ended.
    let after = await mediaSettled(url, watch.startedAt, gw!.process.pid);
    const mediaLeft = after.media;
    // The pool closes connections idle for 10 s; wait for that before counting handles.
    const dbAfter = await watch.settledDatabase();
    after = await sampleGateway(url, watch.elapsedMs(), gw!.process.pid);

    // Memory after warm-up: the last stretch against the one right after warm-up.
    const memory = watch.verdict('gateway');
    const connectionCounts = watch.connectionCounts;
    const warmDb = watch.warmDatabase;
    const baselineHandles = median(memory.baseline.map((s) => s.activeHandles));
    process.stderr.write(
      `churn soak: ${report.calls.placed} calls, ${report.messages.sent} messages in ${Math.round(CHURN_MS / 1000)} s; ` +
        `media restarts ${report.calls.restarts} in ${report.calls.callsRestarted} calls; ` +
        `gateway ${memory.summary}; handles ${baselineHandles} → ${after.activeHandles}; ` +
        `db connections at most ${Math.max(...connectionCounts)} (${warmDb?.connections} after warm-up, ${dbAfter.connections} at the end); ` +
        `pg-boss jobs ${warmDb?.jobs} → ${dbAfter.jobs}, pending ${dbAfter.pendingTimers}\n` +
        `  logged: ${warningDigest(gw!.logs)}\n` +
        `${watch.series('gateway')}\n` +
        report.errors.map((e) => `  error: ${e}\n`).join(''),
    );
    expect(report.errors).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.calls.placed).toBeGreaterThan(CHURN_MS / 1000);
    expect(mediaLeft).toEqual({ routers: 0, transports: 0, producers: 0, consumers: 0 });
    expect(memory.baseline.length).toBeGreaterThanOrEqual(3);
    expect(memory.final.length).toBeGreaterThanOrEqual(3);
    expect(memory.liveBaseline.length).toBeGreaterThanOrEqual(3);
    expect(memory.liveFinal.length).toBeGreaterThanOrEqual(3);
    // No timer job left, and the job table no fuller than after warm-up.
    expect(dbAfter.pendingTimers).toBe(0);
    expect(dbAfter.jobs).toBeLessThanOrEqual(warmDb!.jobs);
    // Connections stay within the pool (plus its LISTEN connection) however long the churn runs, and return to their warm count.
    expect(Math.max(...connectionCounts, dbAfter.connections)).toBeLessThanOrEqual(POOL_SIZE + 1);
    expect(dbAfter.connections).toBeLessThanOrEqual(warmDb!.connections);
    // The issue's own figure, RSS as the kernel reports it, and the live heap.
    expect(memory.rssGrowth).toBeLessThan(0.1);
    expect(memory.rssBeyondYoungGenerationGrowth).toBeLessThan(0.1);
    expect(memory.liveHeapGrowth).toBeLessThan(0.1);
    // No timer or socket left behind: handles back to where the warm gateway had them (the test's own sockets are gone).
    expect(after.activeHandles).toBeLessThanOrEqual(baselineHandles);

    expect(await gw!.stop()).toBe(0);
  });
});
