import type { types as ms } from 'mediasoup';
import type { CallMedia } from '@app/contracts';
import type { Logger } from '@app/observability';
import { routerCodecsFor } from './media-codecs';
import type { MediaWorker } from './worker-pool';

/** A router made ahead of the call that will use it, with the worker it lives on. */
export interface SpareRouter extends MediaWorker {
  router: ms.Router;
}

/**
 * One router per kind of call made ahead on the least loaded worker, so a
 * call's room opens without waiting for the worker: creating a router is a
 * round trip to the worker on the path from `call:accept` to its join.
 * Taking the spare starts making the next one, once the taker's turn is
 * over: the request to the worker then queues behind the room's own
 * transports, and the router's capabilities are worked out while the
 * answer waits for the worker and the database. A spare whose worker died
 * is never handed out (its router closed with the worker).
 */
export class SpareRouters {
  private readonly ready = new Map<CallMedia, SpareRouter>();
  private readonly making = new Map<CallMedia, Promise<void>>();
  private closed = false;

  constructor(
    private readonly leastLoaded: () => MediaWorker,
    private readonly logger: Logger,
  ) {}

  /** The spare router for this kind of call, if one is ready; the next one is started either way. */
  take(media: CallMedia): SpareRouter | undefined {
    const spare = this.ready.get(media);
    this.ready.delete(media);
    this.fill(media);
    return spare && !spare.router.closed ? spare : undefined;
  }

  /**
   * Starts making a spare of this kind, after the current turn, unless one is
   * ready or on its way (no worker alive then: none).
   */
  fill(media: CallMedia): void {
    const held = this.ready.get(media);
    if (this.closed || this.making.has(media) || (held && !held.router.closed)) return;
    const making = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.make(media))
      .finally(() => this.making.delete(media));
    this.making.set(media, making);
  }

  private async make(media: CallMedia): Promise<void> {
    if (this.closed) return;
    let worker: MediaWorker;
    try {
      worker = this.leastLoaded();
    } catch {
      return;
    }
    try {
      const router = await worker.worker.createRouter({ mediaCodecs: routerCodecsFor(media), appData: { spare: true } });
      if (this.closed) router.close();
      else this.ready.set(media, { ...worker, router });
    } catch (err) {
      this.logger.warn({ err, media }, 'could not make a spare router');
    }
  }

  /** Resolves once no spare is being made (a census then counts exactly the spares held). */
  async settled(): Promise<void> {
    while (this.making.size > 0) await Promise.all(this.making.values());
  }

  /** Spare routers alive now. */
  count(): number {
    return [...this.ready.values()].filter((s) => !s.router.closed).length;
  }

  close(): void {
    this.closed = true;
    for (const spare of this.ready.values()) spare.router.close();
    this.ready.clear();
  }
}
