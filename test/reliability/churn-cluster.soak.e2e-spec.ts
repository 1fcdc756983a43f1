import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase } from '@app/testing';
import { runSimulation } from '../../apps/sim/src/simulation';
import { CHURN_MS, churnLoad, WARM_UP_SHARE } from './support/churn-load';
import { readEventTimes } from '../../apps/sim/src/server-timing';
import { mediaSettled } from './support/gateway-memory';
import { INSPECTOR_NODE_ARGS } from '@app/harness';
import { SoakWatch, warningDigest } from './support/soak-watch';

/** Each process's database pool; with its LISTEN connection, the most one may hold. */
const POOL_SIZE = 10;
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Member {
  name: string;
  process: SpawnedGateway;
  /** Gateways answer for the figure, RSS as the kernel reports it; media nodes are judged beyond their young generation. */
  role: 'gateway' | 'media';
}

/**
 * The churn soak against a cluster: two gateway processes (NODE_ROLE=gateway)
 * and two media nodes (NODE_ROLE=media) sharing Redis and one database. One
 * simulation, the size of the single-process soak's, drives both gateways:
 * its users alternate between them, so friends sit on different gateways
 * and most calls and messages cross processes; every room lives on a media
 * node, reached over Redis from either gateway.
 * Every process's memory after warm-up must stay flat, and once the last call
 * ended nothing may be left: no mediasoup object on either node, no pending
 * timer job, no more connections than the pools allow.
 */
/** How many times the gateway at `url` handled `event`, from its /metrics. */
async function eventCount(url: string, event: string): Promise<number> {
  return (await readEventTimes(url))?.get(event)?.count ?? 0;
}

describe('soak: churn against two gateways and two media nodes', () => {
  let db: TestDatabase;
  const members: Member[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const base = { REDIS_URL, LOG_LEVEL: 'info', DM_RATE_PER_SEC: '1000', DM_RATE_BURST: '1000', DATABASE_POOL_SIZE: String(POOL_SIZE) };
    // Gateways first: the media nodes' heartbeats are what they place rooms on.
    const inspect = { nodeArgs: INSPECTOR_NODE_ARGS };
    const gateways = await Promise.all([0, 1].map(() => spawnGateway(db.url, { ...base, NODE_ROLE: 'gateway' }, inspect)));
    const nodes = await Promise.all([0, 1].map(() => spawnGateway(db.url, { ...base, NODE_ROLE: 'media', MEDIA_WORKERS: '1' }, inspect)));
    gateways.forEach((p, i) => members.push({ name: `gateway ${i + 1}`, process: p, role: 'gateway' }));
    nodes.forEach((p, i) => members.push({ name: `media node ${i + 1}`, process: p, role: 'media' }));
  });
  afterAll(async () => {
    for (const m of members) if (m.process.process.exitCode === null) await m.process.kill();
    await db?.drop();
  });

  it(`holds calls and messages across the cluster for ${Math.round(CHURN_MS / 60_000)} min with flat memory and nothing left behind`, async () => {
    const gateways = members.filter((m) => m.role === 'gateway');
    const watch = await SoakWatch.start(
      db.url,
      members.map((m) => ({ name: m.name, gateway: m.process })),
      { churnMs: CHURN_MS, warmUpShare: WARM_UP_SHARE },
    );
    let report;
    try {
      report = await runSimulation(churnLoad({ urls: gateways.map((m) => m.process.url) }));
    } finally {
      watch.stop();
    }
    // Everything a call held is gone from both nodes once the last call ended.
    const nodes = members.filter((m) => m.role === 'media');
    const settled = await Promise.all(nodes.map((m) => mediaSettled(m.process.url, watch.startedAt, m.process.process.pid)));

    // Pools close connections idle for 10 s; wait for that before counting.
    const dbAfter = await watch.settledDatabase();
    const connectionCounts = watch.connectionCounts;
    const warmDb = watch.warmDatabase;
    const verdicts = members.map((m) => ({ member: m, ...watch.verdict(m.name) }));
    process.stderr.write(
      `churn against the cluster: ${report.calls.placed} calls, ${report.messages.sent} messages in ${Math.round(CHURN_MS / 1000)} s; ` +
        `media restarts ${report.calls.restarts} in ${report.calls.callsRestarted} calls; ` +
        `db connections at most ${Math.max(...connectionCounts)} (${warmDb?.connections} after warm-up, ${dbAfter.connections} at the end); ` +
        `pg-boss jobs ${warmDb?.jobs} → ${dbAfter.jobs}, pending ${dbAfter.pendingTimers}\n` +
        verdicts
          .map((v) => {
            const samples = watch.samplesOf(v.member.name);
            const peakRooms = Math.max(0, ...samples.map((s) => s.media?.routers ?? 0));
            const rooms = samples.some((s) => s.media) ? `; at most ${peakRooms} rooms open` : '';
            return `${v.member.name}: ${v.summary}${rooms}\n  logged: ${warningDigest(v.member.process.logs)}\n${watch.series(v.member.name)}\n`;
          })
          .join('') +
        report.errors.map((e) => `  error: ${e}\n`).join(''),
    );
    expect(report.errors).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.calls.placed).toBeGreaterThan(CHURN_MS / 1000);
    // Both gateways carried calls: ring neighbours sit on different gateways, so most calls span the two.
    for (const m of gateways) expect(await eventCount(m.process.url, 'call:invite')).toBeGreaterThan(CHURN_MS / 4000);
    expect(settled.map((s) => s.media)).toEqual(nodes.map(() => ({ routers: 0, transports: 0, producers: 0, consumers: 0 })));
    // Both nodes served rooms: the load really spread over the cluster.
    for (const m of nodes) expect(Math.max(...watch.samplesOf(m.name).map((s) => s.media?.routers ?? 0))).toBeGreaterThan(0);
    // No timer job left, and the job table no fuller than after warm-up.
    expect(dbAfter.pendingTimers).toBe(0);
    expect(dbAfter.jobs).toBeLessThanOrEqual(warmDb!.jobs);
    // Within the pools (plus each process's LISTEN connection) however long the churn runs, and back to the warm count.
    expect(Math.max(...connectionCounts, dbAfter.connections)).toBeLessThanOrEqual(members.length * (POOL_SIZE + 1));
    expect(dbAfter.connections).toBeLessThanOrEqual(warmDb!.connections);
    // Every process: RSS beyond V8's young generation and the live heap flat; gateways also by RSS as the kernel reports it.
    for (const v of verdicts) {
      expect({
        process: v.member.name,
        readings: [v.baseline.length, v.final.length, v.liveBaseline.length, v.liveFinal.length].every((n) => n >= 3),
        rssBelow10: v.member.role === 'media' || v.rssGrowth < 0.1,
        rssBeyondYoungGenerationBelow10: v.rssBeyondYoungGenerationGrowth < 0.1,
        liveHeapBelow10: v.liveHeapGrowth < 0.1,
      }).toEqual({
        process: v.member.name,
        readings: true,
        rssBelow10: true,
        rssBeyondYoungGenerationBelow10: true,
        liveHeapBelow10: true,
      });
    }

    // Graceful stops: nodes first (nothing left to hand over), then the gateways.
    for (const m of [...nodes, ...gateways])
      expect({ process: m.name, exit: await m.process.stop() }).toEqual({ process: m.name, exit: 0 });
  });
});
