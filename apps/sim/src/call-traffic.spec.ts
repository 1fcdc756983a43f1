import type { PlainCallMedia } from '@app/client';
import { talk } from './call-traffic';

/** Just enough of PlainCallMedia for a tone round: streams that open, close on a restart and hear every packet. */
class ScriptedMedia {
  readonly restarts: string[] = [];
  send?: { sendTone: (hz: number, ms: number) => Promise<number> };
  receive?: { packets: { payload: Buffer }[]; waitForPackets: (n: number, ms: number) => Promise<void> };
  private readonly readyWaiters: (() => void)[] = [];
  private readonly restartListeners: (() => void)[] = [];

  get isReady(): boolean {
    return this.send !== undefined && this.receive !== undefined;
  }

  ready(): Promise<void> {
    return this.isReady ? Promise.resolve() : new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  onRestart(listener: () => void): () => void {
    this.restartListeners.push(listener);
    return () => this.restartListeners.splice(this.restartListeners.indexOf(listener), 1);
  }

  open(): void {
    const packets: { payload: Buffer }[] = [];
    this.receive = { packets, waitForPackets: async () => undefined };
    this.send = { sendTone: async (_hz, ms) => ms / 20 };
    for (const waiter of this.readyWaiters.splice(0)) waiter();
  }

  restart(): void {
    this.send = undefined;
    this.receive = undefined;
    this.restarts.push('node_lost');
    for (const listener of [...this.restartListeners]) listener();
  }
}

const asMedia = (m: ScriptedMedia) => m as unknown as PlainCallMedia;

describe('talk', () => {
  it('waits again when one side restarts while the other is getting ready, instead of reading a closed stream', async () => {
    const caller = new ScriptedMedia();
    const callee = new ScriptedMedia();
    caller.open();
    const round = talk(asMedia(caller), asMedia(callee), 1);
    await new Promise((r) => setImmediate(r));
    // The caller's room moves just before the callee is ready: the wait for both ends with the caller not ready.
    caller.restart();
    callee.open();
    await new Promise((r) => setImmediate(r));
    caller.open();
    const result = await round;
    expect(result.rounds).toBe(2);
    expect(result.sent).toBe(100);
  });

  it('gives up with a clear error when the media never is ready on both sides at once', async () => {
    const caller = new ScriptedMedia();
    const callee = new ScriptedMedia();
    caller.open();
    const round = talk(asMedia(caller), asMedia(callee), 1);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setImmediate(r));
      callee.restart();
      caller.open();
      caller.restart();
      callee.open();
    }
    await expect(round).rejects.toThrow(/kept restarting/);
  });
});
