import type { Writable } from 'node:stream';
import * as channelModule from 'mediasoup/node/lib/Channel';

const PATCHED = Symbol.for('social-messaging.coalescedChannelWrites');

type ChannelOptions = ConstructorParameters<typeof channelModule.Channel>[0];

/**
 * Makes each request to a mediasoup worker leave in one write to its pipe,
 * and the requests of one turn of the event loop in one write together.
 *
 * mediasoup 3.12's channel writes a request as two writes, its length and
 * then its body, and each write is a system call that wakes the worker. On
 * a virtual machine a write that wakes another process costs tens of
 * microseconds, and a call's set-up makes about ten requests. Here the
 * channel's pipe is corked from the first write of a turn until the turn's
 * synchronous code has run (process.nextTick), so the length and body of
 * each request, and the requests made together (a join's two transports),
 * go in one `writev`. Order is unchanged: one pipe, written in turn.
 *
 * The channel is made by the worker with the pipe to its child, and keeps
 * both in private fields, so the hook is the module's exported class: a
 * subclass that wraps the pipe before the channel uses it. Call before
 * creating workers; once per process is enough.
 */
export function coalesceWorkerChannelWritesPerTurn(): void {
  const exported = channelModule as unknown as { Channel: typeof channelModule.Channel; [PATCHED]?: true };
  if (exported[PATCHED]) return;
  const Channel = exported.Channel;
  class CoalescingChannel extends Channel {
    constructor(options: ChannelOptions) {
      writeOncePerTurn(options.producerSocket as Writable);
      super(options);
    }
  }
  exported.Channel = CoalescingChannel;
  exported[PATCHED] = true;
}

/** Corks the stream at its first write of a turn and uncorks it when the turn's synchronous code is done. */
export function writeOncePerTurn(stream: Writable): void {
  const write = stream.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    stream.uncork();
  };
  stream.write = function writeThisTurn(this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Writable['write'];
}
