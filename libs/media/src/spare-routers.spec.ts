import * as mediasoup from 'mediasoup';
import pino from 'pino';
import { SpareRouters } from './spare-routers';
import type { MediaWorker } from './worker-pool';

describe('SpareRouters', () => {
  let worker: mediasoup.types.Worker;
  let holder: MediaWorker;
  const calls: string[] = [];

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    holder = { worker, webRtcServer: undefined as unknown as mediasoup.types.WebRtcServer };
    const createRouter = worker.createRouter.bind(worker);
    jest.spyOn(worker, 'createRouter').mockImplementation((options) => {
      calls.push('createRouter');
      return createRouter(options);
    });
  });

  afterAll(() => worker.close());

  beforeEach(() => (calls.length = 0));

  const spares = () => new SpareRouters(() => holder, pino({ level: 'silent' }));

  it('hands out the router made ahead and makes the next one after the taker’s turn, behind its requests', async () => {
    const routers = spares();
    routers.fill('audio');
    await routers.settled();
    expect(routers.count()).toBe(1);
    calls.length = 0;

    const taken = routers.take('audio');
    expect(taken?.router.closed).toBe(false);
    // The room's own request, sent in the same turn, goes to the worker first.
    const transport = taken!.router.createPlainTransport({ listenIp: '127.0.0.1' }).then((t) => (calls.push('transport'), t));
    calls.push('room request sent');
    expect(calls).toEqual(['room request sent']);
    await routers.settled();
    expect(calls[0]).toBe('room request sent');
    expect(calls).toContain('createRouter');
    expect(routers.count()).toBe(1);
    expect(routers.take('audio')!.router.id).not.toBe(taken!.router.id);
    (await transport).close();
    taken!.router.close();
    routers.close();
  });

  it('makes nothing once closed, even when a fill was already asked for', async () => {
    const routers = spares();
    routers.fill('video');
    routers.close();
    await routers.settled();
    expect(calls).toEqual([]);
    expect(routers.count()).toBe(0);
  });

  it('asks for one spare per kind however often it is filled in one turn', async () => {
    const routers = spares();
    routers.fill('audio');
    routers.fill('audio');
    routers.fill('video');
    await routers.settled();
    expect(calls).toEqual(['createRouter', 'createRouter']);
    expect(routers.count()).toBe(2);
    routers.close();
  });
});
