import { Client } from 'pg';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { runSimulation, DEFAULT_SIM_OPTIONS } from '../../apps/sim/src/simulation';

/** Length of the churn (SOAK_CHURN_MS); at least 10 minutes by default. */
const CHURN_MS = Number(process.env.SOAK_CHURN_MS ?? 10 * 60_000);
/** Memory after this share of the run is the baseline (start-up, JIT and pools warmed). */
const WARM_UP_SHARE = 0.2;
/** Gateway gauges read this often (60 readings a run, at most one per 10 s). */
const SAMPLE_MS = Math.min(10_000, Math.max(1000, CHURN_MS / 60));
/** The gateway's pool; with its one LISTEN connection, the most it may hold. */
const POOL_SIZE = 20;

interface GatewaySample {
  atMs: number;
  rss: number;
  heapUsed: number;
  activeHandles: number;
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

/** Reads the gauges of the gateway's /metrics this soak watches. */
async function sampleGateway(url: string, atMs: number): Promise<GatewaySample> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name} missing from /metrics`);
    return Number(m[1]);
  };
  return {
    atMs,
    rss: value('process_resident_memory_bytes'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    activeHandles: value('nodejs_active_handles_total'),
    routers: value('media_rooms_open'),
    transports: value('media_transports'),
    producers: value('media_producers'),
    consumers: value('media_consumers'),
  };
}

async function databaseCounts(dbUrl: string): Promise<{ connections: number; pendingTimers: number; jobs: number }> {
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  try {
    const name = new URL(dbUrl).pathname.slice(1);
    const connections = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    const timers = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active')`);
    const jobs = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM pgboss.job');
    return { connections: connections.rows[0].n, pendingTimers: timers.rows[0].n, jobs: jobs.rows[0].n };
  } finally {
    await pg.end();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

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
    gw = await spawnGateway(db.url, {
      DM_RATE_PER_SEC: '1000',
      DM_RATE_BURST: '1000',
      LOG_LEVEL: 'info',
      MEDIA_WORKERS: '2',
      DATABASE_POOL_SIZE: String(POOL_SIZE),
    });
  });
  afterAll(async () => {
    if (gw && gw.process.exitCode === null) await gw.kill();
    await db?.drop();
  });

  it(`holds calls and messages for ${Math.round(CHURN_MS / 60_000)} min with flat memory and nothing left behind`, async () => {
    const url = gw!.url;
    const samples: GatewaySample[] = [];
    const began = Date.now();
    const connectionCounts: number[] = [];
    const sampler = setInterval(() => {
      sampleGateway(url, Date.now() - began).then((s) => samples.push(s), () => undefined);
      databaseCounts(db.url).then((c) => connectionCounts.push(c.connections), () => undefined);
    }, SAMPLE_MS);
    let warmDb: Awaited<ReturnType<typeof databaseCounts>> | undefined;
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
    expect(report.errors).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.calls.placed).toBeGreaterThan(CHURN_MS / 1000);

    // Everything a call held is gone once the last one ended.
    let after = await sampleGateway(url, Date.now() - began);
    for (let i = 0; i < 50 && after.routers + after.transports + after.producers + after.consumers > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await sampleGateway(url, Date.now() - began);
    }
    expect({ routers: after.routers, transports: after.transports, producers: after.producers, consumers: after.consumers }).toEqual({
      routers: 0,
      transports: 0,
      producers: 0,
      consumers: 0,
    });
    // The pool closes connections idle for 10 s; wait for that before counting handles.
    let dbAfter = await databaseCounts(db.url);
    for (let i = 0; i < 40 && dbAfter.connections > (warmDb?.connections ?? 0); i++) {
      await new Promise((r) => setTimeout(r, 500));
      dbAfter = await databaseCounts(db.url);
    }
    after = await sampleGateway(url, Date.now() - began);

    // Memory after warm-up: the last stretch against the one right after warm-up.
    const warmUpEnd = CHURN_MS * WARM_UP_SHARE;
    const window = Math.max(3 * SAMPLE_MS, Math.min(60_000, CHURN_MS * WARM_UP_SHARE));
    const baseline = samples.filter((s) => s.atMs >= warmUpEnd && s.atMs < warmUpEnd + window);
    const final = samples.filter((s) => s.atMs >= CHURN_MS - window && s.atMs <= CHURN_MS);
    expect(baseline.length).toBeGreaterThanOrEqual(3);
    expect(final.length).toBeGreaterThanOrEqual(3);
    const growth = (of: (window: GatewaySample[]) => number) => of(final) / of(baseline) - 1;
    const rssGrowth = growth((w) => median(w.map((s) => s.rss)));
    // The heap's floor in a window (its lowest reading, just after a collection) is the live heap; its median follows the GC's sawtooth.
    const heapGrowth = growth((w) => Math.min(...w.map((s) => s.heapUsed)));
    const baselineHandles = median(baseline.map((s) => s.activeHandles));
    process.stderr.write(
      `churn soak: ${report.calls.placed} calls, ${report.messages.sent} messages in ${Math.round(CHURN_MS / 1000)} s; ` +
        `gateway RSS ${(median(baseline.map((s) => s.rss)) / 2 ** 20).toFixed(1)} → ${(median(final.map((s) => s.rss)) / 2 ** 20).toFixed(1)} MB ` +
        `(${(rssGrowth * 100).toFixed(1)}%), heap ${(heapGrowth * 100).toFixed(1)}%; ` +
        `handles ${baselineHandles} → ${after.activeHandles}; ` +
        `db connections at most ${Math.max(...connectionCounts)} (${warmDb?.connections} after warm-up, ${dbAfter.connections} at the end); ` +
        `pg-boss jobs ${warmDb?.jobs} → ${dbAfter.jobs}, pending ${dbAfter.pendingTimers}\n` +
        `  RSS/heap MB by minute: ${samples
          .filter((_, i) => i % Math.max(1, Math.round(60_000 / SAMPLE_MS)) === 0)
          .map((s) => `${(s.rss / 2 ** 20).toFixed(0)}/${(s.heapUsed / 2 ** 20).toFixed(0)}`)
          .join(' ')}\n`,
    );
    expect(dbAfter.pendingTimers).toBe(0);
    // Connections stay within the pool (plus its LISTEN connection) however long the churn runs.
    expect(Math.max(...connectionCounts, dbAfter.connections)).toBeLessThanOrEqual(POOL_SIZE + 1);
    expect(rssGrowth).toBeLessThan(0.1);
    expect(heapGrowth).toBeLessThan(0.1);
    // No timer or socket left behind: handles back to where the warm gateway had them (the test's own sockets are gone).
    expect(after.activeHandles).toBeLessThanOrEqual(baselineHandles);

    expect(await gw!.stop()).toBe(0);
  });
});
