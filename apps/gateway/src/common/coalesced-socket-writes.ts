import { Socket as EngineSocket, transports } from 'engine.io';

const PATCHED = Symbol.for('social-messaging.coalescedSocketWrites');

type Flushable = { flush(): void };

/** Engine sockets with packets queued this turn; flushed together once the turn's code and promises ran. */
let queued = new Set<Flushable>();

/**
 * Makes what the gateway sends one client in one turn of the event loop
 * leave in one write to its TCP connection.
 *
 * engine.io writes the first packet of a turn at once and each later one as
 * a WebSocket frame of its own once that write completes: a batch of DMs
 * committed together, or a call's answer with its `call:state` push, cost
 * one system call per packet and client (writing them together cut the
 * gateway's CPU per DM by about an eighth). Here the engine socket's flush waits
 * until the turn's synchronous code and promise continuations are done
 * (process.nextTick), and the WebSocket transport corks the connection
 * while it writes the frames it was given, so they go out in one `writev`.
 * Order is unchanged (one queue per client), and a socket closed after
 * emitting still sends what it queued first (engine.io closes on the
 * flush's `drain`).
 *
 * Patches engine.io's prototypes once per process (the gateway calls it at
 * start-up); nothing is kept per socket.
 */
export function coalesceSocketWritesPerTurn(): void {
  const socketProto = EngineSocket.prototype as unknown as Flushable & { [PATCHED]?: true };
  if (socketProto[PATCHED]) return;
  socketProto[PATCHED] = true;
  const flushNow = socketProto.flush;
  socketProto.flush = function flushThisTurn(this: Flushable) {
    if (queued.size === 0) process.nextTick(flushQueued, flushNow);
    queued.add(this);
  };

  const transportProto = transports.websocket.prototype as unknown as {
    send(packets: unknown[]): void;
    socket?: { _socket?: { cork?(): void; uncork?(): void } };
  };
  const send = transportProto.send;
  transportProto.send = function sendCorked(this: typeof transportProto, packets: unknown[]) {
    // ws's own TCP socket (a private field of a pinned version): without it, frames go one by one as before.
    const tcp = this.socket?._socket;
    if (packets.length < 2 || typeof tcp?.cork !== 'function' || typeof tcp.uncork !== 'function') return send.call(this, packets);
    tcp.cork();
    try {
      send.call(this, packets);
    } finally {
      tcp.uncork();
    }
  };
}

function flushQueued(flushNow: () => void): void {
  const sockets = queued;
  queued = new Set();
  for (const socket of sockets) {
    try {
      flushNow.call(socket);
    } catch (err) {
      // Thrown here, no caller would catch it: the client's connection fails as on a write error, the rest are sent.
      (socket as { onError?(err: unknown): void }).onError?.(err);
    }
  }
}
