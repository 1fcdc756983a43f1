import net from 'node:net';
import { Writable } from 'node:stream';
import * as mediasoup from 'mediasoup';
import * as channelModule from 'mediasoup/node/lib/Channel';
import { coalesceWorkerChannelWritesPerTurn, writeOncePerTurn } from './coalesced-channel-writes';

/** A stream that records how its chunks reached the underlying resource: one entry per write call. */
function recordingStream(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, writes };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('writeOncePerTurn', () => {
  it('sends what was written in one turn as one write, in order, and the next turn apart', async () => {
    const { stream, writes } = recordingStream();
    writeOncePerTurn(stream);
    stream.write('4');
    stream.write('body');
    stream.write('5');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual([['4', 'body', '5']]);

    stream.write('6');
    await nextTurn();
    expect(writes).toEqual([['4', 'body', '5'], ['6']]);
  });

  it('leaves a stream it was not applied to writing chunk by chunk (the difference it makes)', async () => {
    const { stream, writes } = recordingStream();
    stream.write('4');
    stream.write('body');
    await nextTurn();
    expect(writes[0]).toEqual(['4']);
  });
});

describe('coalesceWorkerChannelWritesPerTurn on a real mediasoup worker', () => {
  let worker: mediasoup.types.Worker;

  beforeAll(async () => {
    coalesceWorkerChannelWritesPerTurn();
    coalesceWorkerChannelWritesPerTurn(); // a second call keeps the one subclass
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
  });

  afterAll(() => worker?.close());

  it('sends requests made together in one system call, and every one is answered', async () => {
    const writes = jest.spyOn(net.Socket.prototype as unknown as { _writeGeneric(...args: unknown[]): void }, '_writeGeneric');
    try {
      const routers = await Promise.all(Array.from({ length: 20 }, () => worker.createRouter({ mediaCodecs: [] })));
      // Without the cork: a length and a body per request, each its own write (40).
      expect(writes).toHaveBeenCalledTimes(1);
      expect(new Set(routers.map((r) => r.id)).size).toBe(20);
      const dump = (await worker.dump()) as { routerIds: string[] };
      expect(dump.routerIds.sort()).toEqual(routers.map((r) => r.id).sort());
      routers.forEach((r) => r.close());
    } finally {
      writes.mockRestore();
    }
  });

  it('replaces the channel class the worker makes, once', () => {
    const exported = channelModule.Channel as unknown as { name: string };
    expect(exported.name).toBe('CoalescingChannel');
    expect(Object.getPrototypeOf(channelModule.Channel).name).toBe('Channel');
  });
});
