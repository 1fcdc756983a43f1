import { createRootLogger } from '@app/observability';
import { InProcessMediaBus, RedisMediaBus } from './media-bus';
import { unreachableFailure as failure } from './testing/node-failure';

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

  it('does the same in one process without Redis', async () => {
    const bus = new InProcessMediaBus();
    expect((await failure(bus.request('elsewhere', { method: 'ping', args: [] }, 200))).noSubscriber).toBe(true);
    await bus.serve(() => new Promise(() => undefined));
    expect((await failure(bus.request(bus.localNodeId, { method: 'ping', args: [] }, 50))).noSubscriber).toBe(false);
    await bus.close();
  });
});
