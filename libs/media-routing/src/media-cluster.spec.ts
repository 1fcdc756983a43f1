import pino from 'pino';
import { createClient } from 'redis';
import { AppConfig, ManualClock, SystemClock } from '@app/config';
import { MetricsService } from '@app/observability';
import { MediaBus, MediaNodeStatus, MediaNodeUnreachable, RedisMediaBus } from './media-bus';
import { MediaCluster } from './media-cluster';
import { unreachableFailure as failure } from '../../../test/support/node-failure';
import { RedisGate } from '../../../test/support/redis-gate';

/*
 * A node's request channel with nobody on it means two different things:
 * the process is gone (a crash: its rooms must move now) or its subscriber
 * connection dropped and is reconnecting (a Redis blip: its rooms stay).
 * The node's connections go through a gate that can hold its reconnections
 * back, so the gap is as long as the test wants. Real Redis throughout.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
type Redis = ReturnType<typeof createClient>;

const silent = pino({ level: 'silent' });
const config = (requestTimeoutMs: number) => ({ media: { requestTimeoutMs, recoverySweepMs: 250 } }) as AppConfig;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The node's connections as Redis lists them (named `<namespace>:<nodeId>:cmd|sub`). */
async function connectionsOf(admin: Redis, nodeId: string) {
  const all = (await admin.clientList()).filter((c) => c.name.includes(`:${nodeId}:`));
  return { cmd: all.find((c) => c.name.endsWith(':cmd')), sub: all.find((c) => c.name.endsWith(':sub')) };
}

async function kill(admin: Redis, id: number): Promise<void> {
  await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
}

describe('a media node is taken for lost only when its process is gone, not when its subscription blips', () => {
  const key = `media-cluster-spec-${process.pid}-${Date.now()}`;
  let admin: Redis;
  let gate: RedisGate;
  const buses: RedisMediaBus[] = [];

  beforeAll(async () => {
    admin = createClient({ url: REDIS_URL });
    await admin.connect();
    gate = await RedisGate.start(REDIS_URL);
  });
  afterEach(async () => {
    gate.release();
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    await gate?.close();
    await admin?.quit();
  });

  const bus = async (url: string, logger = silent) => {
    const b = await RedisMediaBus.connect(url, key, logger);
    buses.push(b);
    return b;
  };
  /** A node behind the gate answering pings, with a heartbeat that outlives the test. */
  const startNode = async () => {
    const node = await bus(gate.url);
    await node.serve(async (r) => (r.method === 'ping' ? true : null));
    await node.publishStatus({ nodeId: node.localNodeId, accepting: true, rooms: 0, consumers: 0, workerCpu: 0, workers: 1 }, 60_000);
    return node;
  };
  const clusterOver = (gateway: RedisMediaBus, requestTimeoutMs: number) => {
    const cluster = new MediaCluster(gateway, config(requestTimeoutMs), silent, new MetricsService(), new SystemClock());
    const lost: string[] = [];
    cluster.onNodeLost((id) => lost.push(id));
    return { cluster, lost };
  };

  /** Kills the node's subscriber while the gate holds it back; the request sent then is answered once it is back. */
  async function blipAndAsk(cluster: MediaCluster, nodeId: string): Promise<void> {
    const before = await connectionsOf(admin, nodeId);
    expect(before.sub?.sub).toBeGreaterThan(0);
    gate.hold();
    await kill(admin, before.sub!.id);
    const during = await connectionsOf(admin, nodeId);
    expect({ sub: during.sub, cmd: during.cmd?.id }).toEqual({ sub: undefined, cmd: before.cmd!.id });
    let settled = false;
    const answer = cluster
      .node(nodeId)
      .ping()
      .finally(() => (settled = true));
    await sleep(300);
    // Nobody could have received it yet: it is still being published again, not failed.
    expect(settled).toBe(false);
    gate.release();
    expect(await answer).toBe(true);
  }

  it('keeps a node whose subscriber dropped while its command connection lived, and its request is answered after it resubscribes', async () => {
    const gateway = await bus(REDIS_URL);
    const { cluster, lost } = clusterOver(gateway, 5_000);
    const node = await startNode();
    await blipAndAsk(cluster, node.localNodeId);
    expect(lost).toEqual([]);
    expect(await cluster.isLive(node.localNodeId, true)).toBe(true);
    // Subscribed again by itself: its request channel, its reply channel and the events (a node
    // alone does not listen for pushes).
    expect((await connectionsOf(admin, node.localNodeId)).sub?.sub).toBe(3);
    await expect(cluster.node(node.localNodeId).ping()).resolves.toBe(true);
    // A second blip is judged the same (the ids remembered from the first are stale for the subscriber).
    await blipAndAsk(cluster, node.localNodeId);
    expect(lost).toEqual([]);
  });

  it('takes a node none of whose connections is open for lost at once, long before its heartbeat expires', async () => {
    const gateway = await bus(REDIS_URL);
    const { cluster, lost } = clusterOver(gateway, 5_000);
    const node = await startNode();
    // Seen alive once, so its connection ids are remembered: the check must not trust them blindly.
    await blipAndAsk(cluster, node.localNodeId);
    gate.hold();
    const { cmd, sub } = await connectionsOf(admin, node.localNodeId);
    await Promise.all([kill(admin, cmd!.id), kill(admin, sub!.id)]);
    const started = Date.now();
    const err = await failure(cluster.node(node.localNodeId).ping());
    expect({ nodeId: err.nodeId, noSubscriber: err.noSubscriber }).toEqual({ nodeId: node.localNodeId, noSubscriber: true });
    // Before the request's own timeout: told by Redis, not by waiting.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lost).toEqual([node.localNodeId]);
    // Its heartbeat has a minute left; the cluster leaves it out anyway.
    expect(await cluster.isLive(node.localNodeId, true)).toBe(false);
  });

  describe('where CLIENT LIST is refused', () => {
    const user = `media-cluster-spec-${process.pid}`;
    beforeAll(async () => {
      await admin.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', 'nopass', '~*', '&*', '+@all', '-client|list']);
    });
    afterAll(async () => {
      await admin.sendCommand(['ACL', 'DELUSER', user]);
    });

    it('falls back to the heartbeat: a node with no connection is lost only once its heartbeat is gone, and says so once', async () => {
      const warnings: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
      const url = new URL(REDIS_URL);
      url.username = user;
      const gateway = await bus(url.toString(), logger);
      const { cluster, lost } = clusterOver(gateway, 500);
      const node = await startNode();
      // A blip is still ridden out: the heartbeat is current, so the request is published again.
      await blipAndAsk(cluster, node.localNodeId);

      gate.hold();
      const { cmd, sub } = await connectionsOf(admin, node.localNodeId);
      await Promise.all([kill(admin, cmd!.id), kill(admin, sub!.id)]);
      // No connection, but a current heartbeat: not taken for lost on that alone; the request times out.
      expect((await failure(cluster.node(node.localNodeId).ping())).noSubscriber).toBe(false);
      expect(lost).toEqual([]);
      // Its heartbeat expires (removed here rather than waited for): now it is gone.
      for (const k of await admin.keys(`media:*:node:${node.localNodeId}`)) await admin.del(k);
      expect((await failure(cluster.node(node.localNodeId).ping())).noSubscriber).toBe(true);
      expect(lost).toEqual([node.localNodeId]);
      expect(warnings.filter((l) => l.includes('CLIENT LIST refused'))).toHaveLength(1);
    });
  });
});

describe('the cluster remembers a node it found gone for a minute of its clock', () => {
  /** The heartbeats the spec lists; every request to another node finds nobody on its channel (its process died). */
  class DeadNodesBus implements MediaBus {
    readonly localNodeId = 'gateway';
    heartbeats: MediaNodeStatus[] = [];
    async request(nodeId: string, request: { method: string }): Promise<unknown> {
      throw new MediaNodeUnreachable(nodeId, request.method, true);
    }
    async serve(): Promise<void> {}
    async publishStatus(): Promise<void> {}
    async withdrawStatus(): Promise<void> {}
    async liveNodes(): Promise<MediaNodeStatus[]> {
      return this.heartbeats;
    }
    async publishEvent(): Promise<void> {}
    onEvent(): void {}
    async publishPush(): Promise<void> {}
    async onPush(): Promise<void> {}
    keepPushesHereWhen(): void {}
    async claimOnce(): Promise<boolean> {
      return true;
    }
    async close(): Promise<void> {}
  }

  const heartbeat = (nodeId: string): MediaNodeStatus => ({ nodeId, accepting: true, rooms: 0, consumers: 0, workerCpu: 0, workers: 1 });

  it('announces the node lost once, however many late requests fail, until a minute after its heartbeat expired', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const bus = new DeadNodesBus();
    bus.heartbeats = [heartbeat('n1')];
    // No onModuleInit: nothing refreshes on a timer, the spec says when.
    const cluster = new MediaCluster(bus, config(1_000), silent, new MetricsService(), clock);
    const lost: string[] = [];
    cluster.onNodeLost((id) => lost.push(id));
    const lateRequest = async () => expect((await failure(cluster.node('n1').ping())).noSubscriber).toBe(true);

    await lateRequest();
    expect(lost).toEqual(['n1']);
    // Its heartbeat has not expired yet, but it is out of the live list.
    expect(await cluster.isLive('n1', true)).toBe(false);

    // The heartbeat expires; for a minute of the clock, late failures (clean-ups) announce nothing new.
    bus.heartbeats = [];
    clock.advance(60_000);
    await cluster.liveNodes(true);
    await lateRequest();
    expect(lost).toEqual(['n1']);

    // A minute and a millisecond: forgotten, so the next failure is news again.
    clock.advance(1);
    await cluster.liveNodes(true);
    await lateRequest();
    expect(lost).toEqual(['n1', 'n1']);
  });

  it('on a media node alone, probes nobody and reads the live list only when asked, once older than a refresh', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const bus = new DeadNodesBus();
    bus.heartbeats = [heartbeat('n1'), heartbeat('n2')];
    const reads = jest.spyOn(bus, 'liveNodes');
    const requests = jest.spyOn(bus, 'request');
    const cluster = new MediaCluster(bus, { ...config(1_000), role: 'media' } as AppConfig, silent, new MetricsService(), clock);
    await cluster.onModuleInit();
    try {
      // More than two refresh periods of a process that routes: it would have read and probed.
      await sleep(600);
      expect(reads).not.toHaveBeenCalled();
      expect(requests).not.toHaveBeenCalled();
      expect(await cluster.liveNodes()).toHaveLength(2);
      bus.heartbeats = [heartbeat('n1')];
      // Younger than a refresh: the list read a moment ago.
      expect(await cluster.liveNodes()).toHaveLength(2);
      clock.advance(250);
      expect(await cluster.liveNodes()).toHaveLength(1);
      expect(reads).toHaveBeenCalledTimes(2);
      expect(requests).not.toHaveBeenCalled();
    } finally {
      cluster.onModuleDestroy();
    }
  });

  it('keeps it out of the live list while its heartbeat lasts, however far the clock moves', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const bus = new DeadNodesBus();
    bus.heartbeats = [heartbeat('n1'), heartbeat('n2')];
    const cluster = new MediaCluster(bus, config(1_000), silent, new MetricsService(), clock);
    await failure(cluster.node('n1').ping());
    clock.advance(10 * 60_000);
    expect((await cluster.liveNodes(true)).map((n) => n.nodeId)).toEqual(['n2']);
  });
});
