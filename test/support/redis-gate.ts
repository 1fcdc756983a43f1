import net from 'node:net';

/**
 * For tests: a TCP relay in front of Redis. A process connected through it
 * can have its new connections held back while the gate is held (a network
 * blip as one process sees it: a connection Redis dropped does not come back
 * yet), while its connections already open keep working; or have what it
 * sends on its open connections held back (a Redis that is slow to answer).
 */
export class RedisGate {
  private readonly sockets = new Set<net.Socket>();
  /** Open relays, client → Redis. */
  private readonly relays = new Map<net.Socket, net.Socket>();
  private trafficHeld = false;
  private opened: Promise<void> = Promise.resolve();
  private open?: () => void;

  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async start(redisUrl: string): Promise<RedisGate> {
    const target = new URL(redisUrl);
    // Connections arrive only after `gate` below exists.
    const server = net.createServer((client) => gate.relay(client, target.hostname, Number(target.port || 6379)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const url = new URL(redisUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const gate = new RedisGate(server, url.toString());
    return gate;
  }

  /** New connections wait (their first bytes buffered) until release(). */
  hold(): void {
    if (this.open) return;
    this.opened = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.open = undefined;
  }

  /** What clients send on open connections waits (buffered) until releaseTraffic(); Redis's answers already sent still arrive. */
  holdTraffic(): void {
    this.trafficHeld = true;
    for (const [client, upstream] of this.relays) {
      client.unpipe(upstream);
      client.pause();
    }
  }

  releaseTraffic(): void {
    this.trafficHeld = false;
    for (const [client, upstream] of this.relays) {
      client.pipe(upstream);
      client.resume();
    }
  }

  async close(): Promise<void> {
    this.release();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket, host: string, port: number): void {
    client.pause();
    this.track(client);
    void this.opened.then(() => {
      if (client.destroyed) return;
      const upstream = net.connect(port, host, () => {
        this.relays.set(client, upstream);
        upstream.pipe(client);
        if (this.trafficHeld) return;
        client.pipe(upstream);
        client.resume();
      });
      this.track(upstream);
      // Either side closing closes the other: Redis dropping a connection is seen by the client.
      const end = () => {
        this.relays.delete(client);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end);
      upstream.on('close', end);
    });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }
}
