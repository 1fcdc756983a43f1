import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, Socket as ServerSocket } from 'socket.io';
import { io as connect, Socket as ClientSocket } from 'socket.io-client';
import { coalesceSocketWritesPerTurn } from './coalesced-socket-writes';

/** The TCP socket under a server socket's WebSocket transport (ws's private field, as the patch uses it). */
function tcpOf(socket: ServerSocket) {
  return (socket.conn as unknown as { transport: { socket: { _socket: { _write: unknown; _writev: unknown } } } }).transport.socket._socket;
}

/** Counts the writes the server makes to this client's TCP connection (one `_write` or `_writev` per system call). */
function countWrites(socket: ServerSocket): { count(): number } {
  const tcp = tcpOf(socket);
  const write = jest.spyOn(tcp as never, '_write' as never);
  const writev = jest.spyOn(tcp as never, '_writev' as never);
  return { count: () => write.mock.calls.length + writev.mock.calls.length };
}

/** `tick` events 0 … n-1, as nextEvents reports them. */
const ticks = (n: number) => Array.from({ length: n }, (_, i) => ['tick', i]);

/** The next `n` events the client hears, in order. */
function nextEvents(client: ClientSocket, n: number): Promise<[string, unknown][]> {
  return new Promise((resolve) => {
    const heard: [string, unknown][] = [];
    const onAny = (event: string, payload: unknown) => {
      heard.push([event, payload]);
      if (heard.length === n) {
        client.offAny(onAny);
        resolve(heard);
      }
    };
    client.onAny(onAny);
  });
}

describe('coalesceSocketWritesPerTurn: what one client is sent in one turn leaves in one write', () => {
  let httpServer: http.Server;
  let server: Server;
  let url: string;
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    coalesceSocketWritesPerTurn();
    httpServer = http.createServer();
    server = new Server(httpServer, { perMessageDeflate: false });
    server.on('connection', (socket) => {
      socket.on('ask', (n: number, ack: (answer: unknown) => void) => {
        socket.emit('before-answer', n);
        ack({ ok: true, n });
        socket.emit('after-answer', n);
      });
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function connected(transports: ('websocket' | 'polling')[] = ['websocket']): Promise<[ClientSocket, ServerSocket]> {
    const joined = new Promise<ServerSocket>((resolve) => server.once('connection', resolve));
    const client = connect(url, { transports, forceNew: true, reconnection: false });
    clients.push(client);
    const [serverSocket] = await Promise.all([joined, new Promise<void>((resolve) => client.once('connect', () => resolve()))]);
    // Let the connection's own packets be written before counting.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return [client, serverSocket];
  }

  it('sends five emits of one turn in one write, in order', async () => {
    const [client, socket] = await connected();
    const writes = countWrites(socket);
    const heard = nextEvents(client, 5);
    for (let i = 0; i < 5; i++) socket.emit('tick', i);
    expect(await heard).toEqual(ticks(5));
    expect(writes.count()).toBe(1);
  });

  it('writes emits made in promise continuations of the same turn together too', async () => {
    const [client, socket] = await connected();
    const writes = countWrites(socket);
    const heard = nextEvents(client, 3);
    socket.emit('tick', 0);
    void Promise.resolve()
      .then(() => socket.emit('tick', 1))
      .then(() => socket.emit('tick', 2));
    expect(await heard).toEqual(ticks(3));
    expect(writes.count()).toBe(1);
  });

  it('writes emits of later turns in writes of their own', async () => {
    const [client, socket] = await connected();
    const writes = countWrites(socket);
    const heard = nextEvents(client, 3);
    socket.emit('tick', 0);
    await new Promise((resolve) => setImmediate(resolve));
    socket.emit('tick', 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    socket.emit('tick', 2);
    expect(await heard).toEqual(ticks(3));
    expect(writes.count()).toBe(3);
  });

  it('keeps an answer between the pushes sent around it', async () => {
    const [client] = await connected();
    const heard = nextEvents(client, 2);
    const answer = await client.timeout(2_000).emitWithAck('ask', 7);
    expect(answer).toEqual({ ok: true, n: 7 });
    // The push sent before the answer arrived before it; the one after, after it.
    expect((await heard)[0]).toEqual(['before-answer', 7]);
    expect((await heard)[1]).toEqual(['after-answer', 7]);
  });

  it('still delivers what was emitted right before the server closes the socket', async () => {
    const [client, socket] = await connected();
    const heard = nextEvents(client, 3);
    const reason = new Promise((resolve) => client.once('disconnect', resolve));
    socket.emit('last', 1);
    socket.emit('last', 2);
    socket.emit('last', 3);
    socket.disconnect(true);
    expect(await heard).toEqual([1, 2, 3].map((i) => ['last', i]));
    expect(await reason).toBe('io server disconnect');
  });

  it('fails only the client whose write threw, and still writes to the others of that turn', async () => {
    const [clientA, a] = await connected();
    const [clientB, b] = await connected();
    const transport = (a.conn as unknown as { transport: { send(packets: unknown[]): void } }).transport;
    jest.spyOn(transport, 'send').mockImplementationOnce(() => {
      throw new Error('write failed');
    });
    const lost = new Promise((resolve) => clientA.once('disconnect', resolve));
    const heard = nextEvents(clientB, 1);
    a.emit('tick', 1);
    b.emit('tick', 2);
    expect(await heard).toEqual([['tick', 2]]);
    expect(await lost).toBe('transport close');
    expect(b.connected).toBe(true);
  });

  it('delivers to a client on long-polling in order', async () => {
    const [client, socket] = await connected(['polling']);
    const heard = nextEvents(client, 4);
    for (let i = 0; i < 4; i++) socket.emit('tick', i);
    expect(await heard).toEqual(ticks(4));
  });

  it('sends each client of a room its own single write', async () => {
    const [clientA, a] = await connected();
    const [clientB, b] = await connected();
    for (const s of [a, b]) s.join('room');
    const writes = [countWrites(a), countWrites(b)];
    const heard = [nextEvents(clientA, 3), nextEvents(clientB, 3)];
    for (let i = 0; i < 3; i++) server.to('room').emit('tick', i);
    for (const h of heard) expect(await h).toEqual(ticks(3));
    expect(writes.map((w) => w.count())).toEqual([1, 1]);
  });
});
