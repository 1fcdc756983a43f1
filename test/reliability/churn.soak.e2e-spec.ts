import { writeFileSync } from 'node:fs';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { runSimulation, DEFAULT_SIM_OPTIONS } from '../../apps/sim/src/simulation';
import { databaseCounts, DatabaseCounts } from './support/database-counts';
import { GatewaySample, median, mediaSettled, memorySeries, memoryVerdict, sampleGateway } from './support/gateway-memory';

/** Length of the churn (SOAK_CHURN_MS); at least 10 minutes by default. */
const CHURN_MS = Number(process.env.SOAK_CHURN_MS ?? 10 * 60_000);
/** Memory after this share of the run is the baseline (start-up, JIT and pools warmed). */
const WARM_UP_SHARE = 0.2;
/** Gateway gauges read this often (60 readings a run, at most one per 10 s). */
const SAMPLE_MS = Math.min(10_000, Math.max(1000, CHURN_MS / 60));
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
      { nodeArgs: EXTRA_NODE_ARGS },
    );
  });
  afterAll(async () => {
    if (process.env.SOAK_GATEWAY_LOG && gw) writeFileSync(process.env.SOAK_GATEWAY_LOG, gw.logs.filter((l) => !l.startsWith('{')).join('\n'));
    if (gw && gw.process.exitCode === null) await gw.kill();
    await db?.drop();
  });

  it(`holds calls and messages for ${Math.round(CHURN_MS / 60_000)} min with flat memory and nothing left behind`, async () => {
    const url = gw!.url;
    const samples: GatewaySample[] = [];
    const began = Date.now();
    const connectionCounts: number[] = [];
    const sampler = setInterval(() => {
      sampleGateway(url, Date.now() - began, gw!.process.pid).then((s) => samples.push(s), () => undefined);
      databaseCounts(db.url).then((c) => connectionCounts.push(c.connections), () => undefined);
    }, SAMPLE_MS);
    let warmDb: DatabaseCounts | undefined;
    const warmDbTimer = setTimeout(() => {
      databaseCounts(db.url).then((c) => (warmDb = c), () => undefined);
    }, CHURN_MS * WARM_UP_SHARE);
    let report;
    try {
      report = await runSimulation({
        ...DEFAULT_SIM_OPTIONS,
        url,
        users: 60,
        friendsPerUser: 6,
        messageRate: 30,
        callSeconds: 4,
        concurrentCalls: 20,
        callRate: 10,
        settleMs: 5000,
        durationMs: CHURN_MS,
        seed: 16,
      });
    } finally {
      clearInterval(sampler);
      clearTimeout(warmDbTimer);
    }
    // Everything a call held is gone once the last one ended.
    let after = await mediaSettled(url, began, gw!.process.pid);
    const mediaLeft = after.media;
    // The pool closes connections idle for 10 s; wait for that before counting handles.
    let dbAfter = await databaseCounts(db.url);
    for (let i = 0; i < 40 && dbAfter.connections > (warmDb?.connections ?? 0); i++) {
      await new Promise((r) => setTimeout(r, 500));
      dbAfter = await databaseCounts(db.url);
    }
    after = await sampleGateway(url, Date.now() - began, gw!.process.pid);

    // Memory after warm-up: the last stretch against the one right after warm-up.
    const warmUpEnd = CHURN_MS * WARM_UP_SHARE;
    const window = Math.max(3 * SAMPLE_MS, Math.min(60_000, CHURN_MS * WARM_UP_SHARE));
    const memory = memoryVerdict(samples, warmUpEnd, CHURN_MS, window);
    const baselineHandles = median(memory.baseline.map((s) => s.activeHandles));
    process.stderr.write(
      `churn soak: ${report.calls.placed} calls, ${report.messages.sent} messages in ${Math.round(CHURN_MS / 1000)} s; ` +
        `gateway ${memory.summary}; handles ${baselineHandles} → ${after.activeHandles}; ` +
        `db connections at most ${Math.max(...connectionCounts)} (${warmDb?.connections} after warm-up, ${dbAfter.connections} at the end); ` +
        `pg-boss jobs ${warmDb?.jobs} → ${dbAfter.jobs}, pending ${dbAfter.pendingTimers}\n` +
        `${memorySeries(samples, SAMPLE_MS)}\n` +
        report.errors.map((e) => `  error: ${e}\n`).join(''),
    );
    expect(report.errors).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.calls.placed).toBeGreaterThan(CHURN_MS / 1000);
    expect(mediaLeft).toEqual({ routers: 0, transports: 0, producers: 0, consumers: 0 });
    expect(memory.baseline.length).toBeGreaterThanOrEqual(3);
    expect(memory.final.length).toBeGreaterThanOrEqual(3);
    // No timer job left, and the job table no fuller than after warm-up.
    expect(dbAfter.pendingTimers).toBe(0);
    expect(dbAfter.jobs).toBeLessThanOrEqual(warmDb!.jobs);
    // Connections stay within the pool (plus its LISTEN connection) however long the churn runs, and return to their warm count.
    expect(Math.max(...connectionCounts, dbAfter.connections)).toBeLessThanOrEqual(POOL_SIZE + 1);
    expect(dbAfter.connections).toBeLessThanOrEqual(warmDb!.connections);
    expect(memory.rssGrowth).toBeLessThan(0.1);
    expect(memory.heapGrowth).toBeLessThan(0.1);
    // No timer or socket left behind: handles back to where the warm gateway had them (the test's own sockets are gone).
    expect(after.activeHandles).toBeLessThanOrEqual(baselineHandles);

    expect(await gw!.stop()).toBe(0);
  });
});
