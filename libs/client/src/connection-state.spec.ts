import { createServer, Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { ConnectionState, SocialClient } from './social-client';

/**
 * The SDK's connection state against a bare socket.io server on loopback
 * (no gateway needed: the states and the schedule are the SDK's own).
 */
describe('connection state and reconnection', () => {
  let http: HttpServer;
  let io: Server;
  let port: number;
  let refuse = false;
  /** When set, only this token is let in. */
  let onlyToken: string | undefined;

  async function listen(): Promise<void> {
    http = createServer();
    io = new Server(http);
    io.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: string }).token;
      next(refuse || (onlyToken !== undefined && token !== onlyToken) ? new Error('UNAUTHENTICATED') : undefined);
    });
    await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
  }

  /** Like a crashed process: the connections just close (no disconnect packet). */
  async function stop(): Promise<void> {
    await new Promise<void>((resolve) => io.close(() => resolve()));
  }

  beforeEach(async () => {
    port = 0;
    refuse = false;
    onlyToken = undefined;
    await listen();
  });
  afterEach(async () => {
    await stop().catch(() => undefined);
  });

  function client(): { client: SocialClient; states: ConnectionState[] } {
    const c = new SocialClient(`http://127.0.0.1:${port}`, 'token', { id: 'u1', handle: 'u1', displayName: 'U' });
    const states: ConnectionState[] = [];
    c.onConnectionState((state) => states.push(state));
    return { client: c, states };
  }

  const next = (c: SocialClient, state: ConnectionState) =>
    new Promise<void>((resolve) => {
      const off = c.onConnectionState((s) => s === state && (off(), resolve()));
    });

  it('goes connecting → connected → reconnecting → connected after a drop, and disconnected when closed', async () => {
    const { client: c, states } = client();
    expect(c.connectionState).toBe('disconnected');
    await c.connect({ syncOnConnect: false, backoff: { random: () => 0 } });
    expect(c.connectionState).toBe('connected');
    const reconnecting: { attempt: number; delayMs: number }[] = [];
    c.onLifecycle('reconnecting', (e) => reconnecting.push(e));

    const back = next(c, 'connected');
    c.socket!.io.engine.close(); // a network drop
    await back;
    expect(reconnecting).toEqual([{ attempt: 1, delayMs: 0 }]);
    c.disconnect();
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected', 'disconnected']);
  });

  it('backs off while the server is away, with growing ceilings, and comes back once it is up', async () => {
    const { client: c } = client();
    // Draw 0.04 of each ceiling: 10, 20, 40, 80 ms... the schedule is exact and the test quick.
    await c.connect({ syncOnConnect: false, backoff: { random: () => 0.04 } });
    const attempts: { attempt: number; delayMs: number }[] = [];
    const fourFailures = new Promise<void>((resolve) =>
      c.onLifecycle('reconnecting', (e) => {
        attempts.push(e);
        if (e.attempt === 4) resolve();
      }),
    );
    await stop();
    await fourFailures;
    expect(c.connected).toBe(false);
    expect(c.connectionState).toBe('reconnecting');
    await listen();
    await next(c, 'connected');
    expect(attempts.slice(0, 4)).toEqual([
      { attempt: 1, delayMs: 10 },
      { attempt: 2, delayMs: 20 },
      { attempt: 3, delayMs: 40 },
      { attempt: 4, delayMs: 80 },
    ]);
    c.disconnect();
  });

  it('stops, disconnected, when the handshake is refused', async () => {
    refuse = true;
    const { client: c, states } = client();
    await expect(c.connect({ backoff: { random: () => 0 } })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(c.connectionState).toBe('disconnected');
    expect(states).toEqual(['connecting', 'disconnected']);
  });

  it('does not reconnect when the server closes the socket on purpose', async () => {
    const { client: c, states } = client();
    await c.connect({ syncOnConnect: false, backoff: { random: () => 0 } });
    const closed = next(c, 'disconnected');
    io.disconnectSockets(true);
    await closed;
    expect(states).toEqual(['connecting', 'connected', 'disconnected']);
    c.disconnect();
  });

  it('renews a token that ran out while away (refused on reconnect), then reconnects with the new one', async () => {
    const c = new SocialClient(
      `http://127.0.0.1:${port}`,
      'old',
      { id: 'u1', handle: 'u1', displayName: 'U' },
      {
        fetchToken: async () => ({ token: 'fresh' }),
      },
    );
    const states: ConnectionState[] = [];
    c.onConnectionState((state) => states.push(state));
    await c.connect({ syncOnConnect: false, backoff: { random: () => 0 } });
    onlyToken = 'fresh';
    const back = next(c, 'connected');
    c.socket!.io.engine.close();
    await back;
    expect(c.token).toBe('fresh');
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    c.disconnect();
  });
});
