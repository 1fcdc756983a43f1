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

/** Length of a payload's JSON, without recursing in JavaScript. */
export function jsonLength(payload: unknown): number {
  return JSON.stringify(payload === undefined ? null : payload).length;
}
