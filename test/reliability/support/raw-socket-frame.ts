import type { Socket } from 'socket.io-client';

let nextRawAckId = 1_000_000_000;

/**
 * Emits an event with an ack as a hand-written socket.io frame. The client's
 * own encoder walks the payload recursively and overflows the stack on very
 * deep objects before anything is sent; the server must still be shown them.
 * Uses socket.io-client's ack table so the server's answer arrives as usual.
 */
export function emitRawWithAck(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<unknown> {
  const id = nextRawAckId++;
  const frame = `2${id}${JSON.stringify(payload === undefined ? [event] : [event, payload])}`;
  const acks = (socket as unknown as { acks: Record<number, (...args: unknown[]) => void> }).acks;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      delete acks[id];
      reject(new Error('operation has timed out'));
    }, timeoutMs);
    acks[id] = (answer: unknown) => {
      clearTimeout(timer);
      resolve(answer);
    };
    socket.io.engine.write(frame);
  });
}

/**
 * Size on the wire, in UTF-8 bytes, of the frame `emitRawWithAck` sends
 * (engine.io message type, socket.io event type, ack id, JSON), which is
 * what the server's frame limit counts: an emoji is 2 UTF-16 units but 4
 * bytes, a CJK character 1 unit but 3 bytes.
 */
export function frameBytes(event: string, payload: unknown): number {
  return Buffer.byteLength(`42${nextRawAckId}${JSON.stringify(payload === undefined ? [event] : [event, payload])}`, 'utf8');
}
