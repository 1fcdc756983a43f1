import { sleep } from '../sleep';
import type { SocialClient } from '../social-client';
import { PlainReceiveStream, PlainSendStream, PlainStreamOptions } from './plain-media-session';

export type MediaRestartReason = 'node_lost' | 'worker_died' | 'drain';

/** Tries of one negotiation before giving up until the next restart (a room may be moving meanwhile). */
const NEGOTIATE_ATTEMPTS = 4;
const NEGOTIATE_BACKOFF_MS = 250;

/** A negotiation overtaken by a newer restart: dropped, the newer one runs. */
class Superseded extends Error {}

/**
 * One participant's audio in a call over plain RTP, kept alive across
 * `media:restart`: it sends on its own stream, receives the other
 * participant's, and when the server moves the call's media to a new room it
 * drops both and negotiates again from `media:capabilities`, on its own.
 * `restarts` counts how often that happened; `receive` and `send` are always
 * the current streams. Negotiations never overlap: a restart heard during
 * one makes it start over, and a failed one is tried again a few times.
 */
export class PlainCallMedia {
  send?: PlainSendStream;
  receive?: PlainReceiveStream;
  readonly restarts: MediaRestartReason[] = [];
  /** Why the latest negotiation gave up, if it did. */
  lastError?: Error;
  private closed = false;
  private generation = 0;
  private negotiating?: Promise<void>;
  private opening?: { producerId: string; done: Promise<void> };
  private readonly unsubscribe: (() => void)[] = [];
  private readonly readyWaiters: (() => void)[] = [];
  private readonly restartListeners: ((reason: MediaRestartReason) => void)[] = [];

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
        media.generation++;
        for (const listener of media.restartListeners) listener(e.reason);
        void media.negotiate();
      }),
      // The other side's producer, whenever it (re)appears.
      client.on('media:producer-added', (e) => {
        if (e.callId !== callId || e.userId === client.id || e.kind !== 'audio' || media.closed) return;
        void media.openReceive(e.producerId).catch(() => undefined);
      }),
    );
    await media.negotiate();
    if (!media.send) {
      media.close();
      throw media.lastError ?? new Error('call media could not be negotiated');
    }
    return media;
  }

  /** Whether both streams are open and no negotiation is running. */
  get isReady(): boolean {
    return this.send !== undefined && this.receive !== undefined && !this.negotiating;
  }

  /** Resolves when both streams are open (after start or the latest restart). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.readyWaiters.indexOf(waiter);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        reject(new Error(`call media not ready in time${this.lastError ? `: ${this.lastError.message}` : ''}`));
      }, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(waiter);
    });
  }

  /** Listener hears of each `media:restart` of this call, before the new negotiation starts. */
  onRestart(listener: (reason: MediaRestartReason) => void): () => void {
    this.restartListeners.push(listener);
    return () => {
      const i = this.restartListeners.indexOf(listener);
      if (i >= 0) this.restartListeners.splice(i, 1);
    };
  }

  close(): void {
    this.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    this.send?.close();
    this.receive?.close();
  }

  /** Negotiates until one attempt finishes with no restart heard meanwhile (or it gives up). */
  private negotiate(): Promise<void> {
    // The running loop sees the new generation and starts over.
    if (this.negotiating) return this.negotiating;
    const loop = async () => {
      let failures = 0;
      while (!this.closed) {
        const generation = this.generation;
        try {
          await this.negotiateOnce(generation);
          if (generation === this.generation) {
            this.lastError = undefined;
            return;
          }
        } catch (err) {
          if (this.closed) return;
          if (generation !== this.generation) continue; // overtaken: start over at once
          this.lastError = err as Error;
          if (++failures >= NEGOTIATE_ATTEMPTS) return;
          await sleep(NEGOTIATE_BACKOFF_MS * failures);
        }
      }
    };
    const attempt = loop().finally(() => {
      this.negotiating = undefined;
      this.notifyIfReady();
    });
    this.negotiating = attempt;
    return attempt;
  }

  private async negotiateOnce(generation: number): Promise<void> {
    const current = () => {
      if (this.closed || generation !== this.generation) throw new Superseded('a newer restart came');
    };
    this.send?.close();
    this.send = undefined;
    const { producers } = (await this.client.request('media:capabilities', { callId: this.callId })) as {
      producers?: { producerId: string; userId: string; kind: string }[];
    };
    current();
    const theirs = producers?.find((p) => p.userId !== this.client.id && p.kind === 'audio');
    // A receive stream of a producer the new room still has was opened in it already (the other side was quicker).
    if (this.receive && this.receive.producerId !== theirs?.producerId) {
      this.receive.close();
      this.receive = undefined;
    }
    const send = await PlainSendStream.open(this.client, this.callId, 'audio', this.options);
    if (this.closed || generation !== this.generation) {
      send.close();
      current();
    }
    this.send = send;
    // The other side may have produced already (then no producer-added comes for it).
    if (theirs) await this.openReceive(theirs.producerId);
  }

  /** One receive stream per producer at a time: an event and a negotiation naming it share the work. */
  private async openReceive(producerId: string): Promise<void> {
    if (this.receive?.producerId === producerId) return;
    if (this.opening?.producerId === producerId) return this.opening.done;
    const generation = this.generation;
    const done = (async () => {
      const stream = await PlainReceiveStream.open(this.client, this.callId, producerId, this.options).catch(() => undefined);
      if (!stream) return; // a producer of a room that moved meanwhile; the restart brings the new one
      // Closed, or the room moved while this opened: the new negotiation finds the producer to receive.
      if (this.closed || generation !== this.generation) return stream.close();
      this.receive?.close();
      this.receive = stream;
    })();
    this.opening = { producerId, done };
    try {
      await done;
    } finally {
      if (this.opening?.done === done) this.opening = undefined;
      this.notifyIfReady();
    }
  }

  private notifyIfReady(): void {
    if (!this.isReady) return;
    for (const waiter of this.readyWaiters.splice(0)) waiter();
  }
}
