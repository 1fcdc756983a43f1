import type { SocialClient } from '../social-client';
import { PlainReceiveStream, PlainSendStream, PlainStreamOptions } from './plain-media-session';

export type MediaRestartReason = 'node_lost' | 'worker_died' | 'drain';

/**
 * One participant's audio in a call over plain RTP, kept alive across
 * `media:restart`: it sends on its own stream, receives the other
 * participant's, and when the server moves the call's media to a new room it
 * drops both and negotiates again from `media:capabilities`, on its own.
 * `restarts` counts how often that happened; `receive` and `send` are always
 * the current streams.
 */
export class PlainCallMedia {
  send?: PlainSendStream;
  receive?: PlainReceiveStream;
  readonly restarts: MediaRestartReason[] = [];
  private closed = false;
  private negotiating?: Promise<void>;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly readyWaiters: (() => void)[] = [];

  private constructor(
    private readonly client: SocialClient,
    readonly callId: string,
    private readonly options: PlainStreamOptions,
  ) {}

  /** Starts sending and receiving in the active call `callId`. */
  static async start(client: SocialClient, callId: string, options: PlainStreamOptions = {}): Promise<PlainCallMedia> {
    const media = new PlainCallMedia(client, callId, options);
    media.unsubscribe.push(
      client.on('media:restart', (e) => {
        if (e.callId !== callId || media.closed) return;
        media.restarts.push(e.reason);
        void media.negotiate();
      }),
      // The other side's producer, whenever it (re)appears.
      client.on('media:producer-added', (e) => {
        if (e.callId !== callId || e.userId === client.id || e.kind !== 'audio' || media.closed) return;
        void media.openReceive(e.producerId);
      }),
    );
    await media.negotiate();
    return media;
  }

  /** Resolves when both streams are open (after start or the latest restart). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.send && this.receive && !this.negotiating) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('call media not ready in time')), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const off of this.unsubscribe) off();
    this.send?.close();
    this.receive?.close();
  }

  private negotiate(): Promise<void> {
    const run = async () => {
      this.send?.close();
      this.send = undefined;
      const { producers } = (await this.client.request('media:capabilities', { callId: this.callId })) as {
        producers?: { producerId: string; userId: string; kind: string }[];
      };
      const theirs = producers?.find((p) => p.userId !== this.client.id && p.kind === 'audio');
      // A receive stream of a producer the new room still has was opened in it already (the other side was quicker).
      if (this.receive && this.receive.producerId !== theirs?.producerId) {
        this.receive.close();
        this.receive = undefined;
      }
      this.send = await PlainSendStream.open(this.client, this.callId, 'audio', this.options);
      // The other side may have produced already (then no producer-added comes for it).
      if (theirs) await this.openReceive(theirs.producerId);
    };
    const attempt = run().finally(() => {
      if (this.negotiating === attempt) this.negotiating = undefined;
      this.notifyIfReady();
    });
    this.negotiating = attempt;
    return attempt;
  }

  private async openReceive(producerId: string): Promise<void> {
    if (this.receive?.producerId === producerId) return;
    const stream = await PlainReceiveStream.open(this.client, this.callId, producerId, this.options).catch(() => undefined);
    if (!stream) return; // a producer of a room that moved meanwhile; the restart brings the new one
    if (this.closed) return stream.close();
    this.receive?.close();
    this.receive = stream;
    this.notifyIfReady();
  }

  private notifyIfReady(): void {
    if (!this.send || !this.receive || this.negotiating) return;
    for (const waiter of this.readyWaiters.splice(0)) waiter();
  }
}
