import { createClient } from 'redis';
import { ManualClock, redisNamespace, SystemClock } from '@app/config';
import { createRootLogger, MetricsService } from '@app/observability';
import { InProcessMediaBus, RedisMediaBus } from './media-bus';
import type { MediaNodeApi, MediaNodePush } from './media-node-api';
import { MediaNodeClient } from './media-node-client';
import { mediaNodeHandler } from './media-node-server';
import { unreachableFailure as failure } from '../../../test/support/node-failure';

/*
 * "Unreachable" comes in two kinds the cluster treats differently: nobody
 * listens on the node's channel (the process is gone: its rooms move at
 * once) and no answer in time (it may only be slow: probed, left to its
 * heartbeat). Runs against the real Redis.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('MediaNodeUnreachable tells a node that is gone from one that timed out', () => {
  const logger = createRootLogger('silent');
  const key = `media-bus-spec-${process.pid}-${Date.now()}`;
  let gateway: RedisMediaBus;
  let node: RedisMediaBus;

  beforeAll(async () => {
    [gateway, node] = await Promise.all([RedisMediaBus.connect(REDIS_URL, key, logger), RedisMediaBus.connect(REDIS_URL, key, logger)]);
  });
  afterAll(async () => {
    await Promise.all([gateway?.close(), node?.close()]);
  });

  it('answers a request to a node nobody listens for with noSubscriber, long before the timeout', async () => {
    const started = Date.now();
    const err = await failure(gateway.request('no-such-node', { method: 'ping', args: [] }, 10_000));
    expect({ nodeId: err.nodeId, noSubscriber: err.noSubscriber }).toEqual({ nodeId: 'no-such-node', noSubscriber: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('answers a request the node does not answer in time without noSubscriber', async () => {
    await node.serve(() => new Promise(() => undefined));
    const err = await failure(gateway.request(node.localNodeId, { method: 'ping', args: [] }, 200));
    expect({ nodeId: err.nodeId, noSubscriber: err.noSubscriber }).toEqual({ nodeId: node.localNodeId, noSubscriber: false });
  });

  it("lets the cluster's set of nodes expire with the last heartbeat, and keeps it while a node beats", async () => {
    const status = { nodeId: node.localNodeId, accepting: true, rooms: 0, consumers: 0, workerCpu: 0, workers: 1 };
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      const nodesKey = `${redisNamespace('media', key)}:nodes`;
      await node.publishStatus(status, 1_000);
      expect(await raw.sMembers(nodesKey)).toEqual([node.localNodeId]);
      // Another beat before the first expires keeps the set past the first one's time.
      await new Promise((r) => setTimeout(r, 500));
      await node.publishStatus(status, 1_000);
      await new Promise((r) => setTimeout(r, 750));
      expect(await raw.exists(nodesKey)).toBe(1);
      // No beat after that (every node killed): the set goes with the heartbeat.
      await new Promise((r) => setTimeout(r, 500));
      expect(await raw.exists(nodesKey)).toBe(0);
      expect(await gateway.liveNodes()).toEqual([]);
    } finally {
      await raw.quit();
    }
  });

  it('subscribes to pushes only once something in the process listens for them', async () => {
    const channel = `${redisNamespace('media', key)}:pushes`;
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      const subscribers = async () => (await raw.pubSubNumSub(channel))[channel];
      // Neither process listens (a media node alone): Redis sends them no push.
      expect(await subscribers()).toBe(0);
      await gateway.onPush(() => undefined);
      await gateway.onPush(() => undefined);
      expect(await subscribers()).toBe(1);
      // Made after the start, it is made again when the subscriber reconnects (a blip).
      const sub = (await raw.clientList()).find((c) => c.name === `${redisNamespace('media', key)}:${gateway.localNodeId}:sub`);
      await raw.sendCommand(['CLIENT', 'KILL', 'ID', String(sub!.id)]);
      for (let i = 0; i < 100 && (await subscribers()) !== 1; i++) await new Promise((r) => setTimeout(r, 20));
      const again = (await raw.clientList()).find((c) => c.name === sub!.name);
      expect(again && again.id !== sub!.id).toBe(true);
      expect(await subscribers()).toBe(1);
    } finally {
      await raw.quit();
    }
  });

  it('carries pushes in one process too, a listener that throws not stopping the others', async () => {
    const bus = new InProcessMediaBus(new SystemClock());
    const heard: string[] = [];
    await bus.onPush(() => {
      throw new Error('a broken listener');
    });
    await bus.onPush((p) => heard.push(p.type));
    await bus.publishPush({
      type: 'consumer-added',
      nodeId: bus.localNodeId,
      consumer: { callId: 'c', userId: 'u', consumerId: 'k', producerId: 'p', kind: 'audio', rtpParameters: {} },
    });
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['consumer-added']);
    await bus.close();
  });

  it('does the same in one process without Redis', async () => {
    const bus = new InProcessMediaBus(new SystemClock());
    expect((await failure(bus.request('elsewhere', { method: 'ping', args: [] }, 200))).noSubscriber).toBe(true);
    await bus.serve(() => new Promise(() => undefined));
    expect((await failure(bus.request(bus.localNodeId, { method: 'ping', args: [] }, 50))).noSubscriber).toBe(false);
    await bus.close();
  });
});

describe('the in-process bus measures one-time claims with its clock', () => {
  it('holds a claim for its time-to-live of the clock, whatever the system time does', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const bus = new InProcessMediaBus(clock);
    expect(await bus.claimOnce('event:e1', 1_000)).toBe(true);
    expect(await bus.claimOnce('event:e1', 1_000)).toBe(false);
    clock.advance(999);
    expect(await bus.claimOnce('event:e1', 1_000)).toBe(false);
    // Another key is claimed on its own.
    expect(await bus.claimOnce('event:e2', 1_000)).toBe(true);
    clock.advance(1);
    expect(await bus.claimOnce('event:e1', 1_000)).toBe(true);
    await bus.close();
  });
});

describe('the media bus reads only messages that parse, and carries typed calls and pushes', () => {
  const logger = createRootLogger('silent');
  const key = `media-bus-wire-spec-${process.pid}-${Date.now()}`;
  const metrics = new MetricsService();
  let gateway: RedisMediaBus;
  let node: RedisMediaBus;
  let raw: ReturnType<typeof createClient>;
  const calls: unknown[][] = [];

  /** A node API that records its calls; only what these tests use answers. */
  const api = {
    ping: async () => true,
    closeRoom: async (callId: string) => {
      calls.push(['closeRoom', callId]);
      return null;
    },
    join: async (...args: unknown[]) => {
      calls.push(['join', ...args]);
      return null;
    },
  } as unknown as MediaNodeApi;

  beforeAll(async () => {
    [gateway, node] = await Promise.all([
      RedisMediaBus.connect(REDIS_URL, key, logger, metrics),
      RedisMediaBus.connect(REDIS_URL, key, logger, metrics),
    ]);
    await node.serve(mediaNodeHandler(api));
    // The gateway side listens for pushes (a malformed one is dropped where it is read).
    await gateway.onPush(() => undefined);
    raw = createClient({ url: REDIS_URL });
    await raw.connect();
  });
  afterAll(async () => {
    await Promise.all([gateway?.close(), node?.close(), raw?.quit()]);
  });

  const dropped = async (channel: string, reason: string) => {
    const metric = (await metrics.registry.getSingleMetric('media_bus_dropped_total')?.get())?.values ?? [];
    return metric.filter((v) => v.labels.channel === channel && v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  };

  it('drops and counts bad JSON, unknown methods and wrong argument shapes, and keeps serving', async () => {
    const namespace = redisNamespace('media', key);
    const channel = `${namespace}:node:${node.localNodeId}:requests`;
    const replyTo = `${namespace}:replies:${gateway.localNodeId}`;
    await raw.publish(channel, '{not json');
    await raw.publish(channel, JSON.stringify({ id: 'x1', replyTo, request: { method: 'formatDisk', args: [] } }));
    await raw.publish(channel, JSON.stringify({ id: 'x2', replyTo, request: { method: 'closeRoom', args: [42] } }));
    await raw.publish(channel, JSON.stringify({ id: 'x3', request: 'nothing' }));
    await raw.publish(`${namespace}:pushes`, JSON.stringify({ type: 'quality', nodeId: 'n' }));
    await raw.publish(`${namespace}:events`, '[]');
    // Still serving typed calls, and none of the above reached the API.
    const client = new MediaNodeClient(node.localNodeId, (method, args) => gateway.request(node.localNodeId, { method, args }, 5_000));
    expect(await client.closeRoom('call-1')).toBeNull();
    expect(calls).toEqual([['closeRoom', 'call-1']]);
    expect(await dropped('request', 'json')).toBe(1);
    expect(await dropped('request', 'method')).toBe(1);
    expect(await dropped('request', 'args')).toBe(1);
    expect(await dropped('request', 'shape')).toBe(1);
    expect(await dropped('push', 'shape')).toBeGreaterThanOrEqual(1);
    expect(await dropped('event', 'shape')).toBeGreaterThanOrEqual(1);
  });

  it("parses a request from another process, and hands this process's own to the api as they are", async () => {
    const request = { rtpCapabilities: { codecs: [] }, recv: { type: 'plain' as const, rtcpMux: true } };
    const fromGateway = new MediaNodeClient(node.localNodeId, (method, args) => gateway.request(node.localNodeId, { method, args }, 5_000));
    const local = new MediaNodeClient(node.localNodeId, (method, args) => node.request(node.localNodeId, { method, args }, 5_000));
    calls.length = 0;
    await fromGateway.join('call-2', 'user-1', request);
    await local.join('call-2', 'user-1', request);
    expect(calls).toEqual([
      ['join', 'call-2', 'user-1', request],
      ['join', 'call-2', 'user-1', request],
    ]);
    // The one from the bus is the schema's copy; the local one the caller's own object, not parsed again.
    expect(calls[0][3]).not.toBe(request);
    expect(calls[1][3]).toBe(request);
  });

  it('delivers a node’s pushes to every process', async () => {
    const heard: MediaNodePush[] = [];
    await gateway.onPush((p) => heard.push(p));
    const push: MediaNodePush = {
      type: 'consumer-added',
      nodeId: node.localNodeId,
      consumer: { callId: 'c', userId: 'u', consumerId: 'k', producerId: 'p', kind: 'audio', rtpParameters: { codecs: [] } },
    };
    await node.publishPush(push);
    for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(heard).toEqual([push]);
  });

  it('keeps a push its process says stays there out of Redis, and delivers it to that process', async () => {
    const [elsewhere, here] = [[] as MediaNodePush[], [] as MediaNodePush[]];
    await gateway.onPush((p) => elsewhere.push(p));
    await node.onPush((p) => here.push(p));
    const push = (userId: string): MediaNodePush => ({
      type: 'consumer-added',
      nodeId: node.localNodeId,
      consumer: { callId: 'c2', userId, consumerId: 'k', producerId: 'p', kind: 'audio', rtpParameters: {} },
    });
    node.keepPushesHereWhen((p) => p.type === 'consumer-added' && p.consumer.userId === 'held-here');
    await node.publishPush(push('held-here'));
    await node.publishPush(push('held-elsewhere'));
    for (let i = 0; i < 100 && (here.length < 2 || elsewhere.length < 1); i++) await new Promise((r) => setTimeout(r, 20));
    expect(here.map((p) => p.type === 'consumer-added' && p.consumer.userId)).toEqual(['held-here', 'held-elsewhere']);
    expect(elsewhere.map((p) => p.type === 'consumer-added' && p.consumer.userId)).toEqual(['held-elsewhere']);
    node.keepPushesHereWhen(() => false);
  });
});
