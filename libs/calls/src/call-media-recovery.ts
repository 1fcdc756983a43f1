import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { DomainError, MediaRestartReason } from '@app/contracts';
import { MediaCluster, MediaNodeEvent } from '@app/media-routing';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { CallMediaService } from './call-media.service';
import { CallRecord } from './call-record';
import { CallRepository } from './call.repository';
import { CallsService } from './calls.service';

/** Lost rooms read per sweep (one indexed query per process and MEDIA_RECOVERY_SWEEP_MS). */
const SWEEP_PAGE = 100;
/** Events are handled by one process of the service: the claim outlives any redelivery. */
const EVENT_CLAIM_MS = 60_000;

/**
 * Keeps active calls' media alive when the thing carrying it goes: a node
 * whose heartbeat stopped (crash, SIGKILL, network), a node that drains, a
 * worker that died inside a node. Lost rooms are found by a sweep against
 * the live nodes' heartbeats and by the nodes' own events; each is opened
 * again on a live node and both participants get `media:restart`. A call
 * ends with media_failure only when no node can take its room for
 * MEDIA_RECOVERY_TIMEOUT_MS.
 */
@Injectable()
export class CallMediaRecovery implements OnApplicationBootstrap, OnModuleDestroy {
  private sweep?: NodeJS.Timeout;
  private sweeping = false;
  /** A sweep was asked for while one ran: run again right after it. */
  private sweepAgain = false;
  private readonly lostSince = new Map<string, number>();
  private readonly logger: Logger;

  constructor(
    private readonly calls: CallRepository,
    private readonly callsService: CallsService,
    private readonly media: CallMediaService,
    private readonly cluster: MediaCluster,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'media-recovery' });
  }

  onApplicationBootstrap(): void {
    this.cluster.onEvent((event) => void this.onNodeEvent(event));
    // A node found dead before its heartbeat expired: its rooms move now, not at the next tick.
    this.cluster.onNodeLost(() => void this.sweepLostRooms());
    this.sweep = setInterval(() => void this.sweepLostRooms(), this.config.media.recoverySweepMs);
    this.sweep.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }

  /** Finds active calls whose node is not alive and moves their rooms. */
  async sweepLostRooms(): Promise<void> {
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = true;
    try {
      do {
        this.sweepAgain = false;
        const live = (await this.cluster.liveNodes()).map((n) => n.nodeId);
        let lost = await this.calls.activeOffNodes(live, SWEEP_PAGE);
        if (lost.length > 0) {
          // The snapshot may be older than a node another process already placed rooms on (a node
          // that just started): the heartbeats are read again before a healthy room is moved.
          const fresh = new Set((await this.cluster.liveNodes(true)).map((n) => n.nodeId));
          lost = lost.filter((call) => !call.mediaNodeId || !fresh.has(call.mediaNodeId));
        }
        // In parallel, but bounded: each move is a few queries and a request to a node, and
        // each call's participants are told as soon as its own room is open again.
        await forEachBounded(lost, this.config.media.recoveryConcurrency, (call) => this.moveOrGiveUp(call, 'node_lost'));
      } while (this.sweepAgain);
    } catch (err) {
      this.logger.error({ err }, 'lost-room sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  private async onNodeEvent(event: MediaNodeEvent): Promise<void> {
    try {
      if (!(await this.cluster.claimOnce(`event:${event.id}`, EVENT_CLAIM_MS))) return;
      if (event.type === 'node-draining') {
        for (;;) {
          const page = await this.calls.activeOnNode(event.nodeId, SWEEP_PAGE);
          if (page.length === 0) return;
          await forEachBounded(page, this.config.media.recoveryConcurrency, (call) => this.moveOrGiveUp(call, 'drain'));
        }
      }
      if (!event.callId) return;
      const call = await this.calls.findById(event.callId);
      if (!call || call.state !== 'active' || call.mediaNodeId !== event.nodeId) return;
      if (event.type === 'room-restarted') this.media.announceRestart(call, 'worker_died');
      else await this.moveOrGiveUp(call, 'worker_died');
    } catch (err) {
      this.logger.error({ err, event }, 'handling a media node event failed');
    }
  }

  /**
   * `call` as just read: the move itself is conditional on the call being
   * active on the node it was read with, so a record that went stale (ended,
   * already moved) moves nothing.
   */
  private async moveOrGiveUp(call: CallRecord, reason: MediaRestartReason): Promise<void> {
    const callId = call.id;
    if (call.state !== 'active') {
      this.lostSince.delete(callId);
      return;
    }
    try {
      const moved = await this.media.recover(call, reason);
      this.lostSince.delete(callId);
      if (reason === 'node_lost' && call.mediaNodeId && moved.mediaNodeId !== call.mediaNodeId) {
        // Taken for lost but perhaps only frozen: should it come back, it drops the room it no
        // longer holds. A dead node fails this at once.
        void this.cluster
          .node(call.mediaNodeId)
          .closeRoom(callId)
          .catch(() => undefined);
      }
    } catch (err) {
      const now = this.clock.now().getTime();
      const since = this.lostSince.get(callId) ?? now;
      this.lostSince.set(callId, since);
      if (!(err instanceof DomainError)) this.logger.error({ err, callId }, 'moving a lost room failed');
      if (now - since >= this.config.media.recoveryTimeoutMs) {
        this.lostSince.delete(callId);
        this.logger.error({ callId }, 'no media node could take the room; ending the call');
        await this.callsService.endForMediaFailure(callId);
      }
    }
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}
