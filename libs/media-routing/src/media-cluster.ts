import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { DomainError } from '@app/contracts';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { MEDIA_BUS } from './media-routing.tokens';
import { MediaBus, MediaNodeEvent, MediaNodeStatus, MediaNodeUnreachable } from './media-bus';
import type { MediaNodeApi, MediaNodeMethod, MediaNodePush } from './media-node-api';
import { MediaNodeClient } from './media-node-client';

/** How often the live-node list is re-read at most (placement and liveness use this snapshot). */
const NODES_REFRESH_MAX_MS = 250;
const PROBE_TIMEOUT_MS = 2_000;
const GONE_REMEMBERED_MS = 60_000;

/**
 * The gateways' view of the media nodes: which are alive and how loaded
 * (from their heartbeats), where to place a new room, and each node's room
 * API as a typed client (`node(nodeId)`) whose requests time out, so a
 * client never waits on a node that is gone. Knows nodes and rooms, not calls.
 */
@Injectable()
export class MediaCluster implements OnModuleInit, OnModuleDestroy {
  private nodes = new Map<string, MediaNodeStatus>();
  private refresher?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  /** When the live list was last read (clock ms): without the refresher, an older one is read again when asked. */
  private readAt = -Infinity;
  /**
   * Nodes whose request channel had no subscriber although their heartbeat
   * had not expired yet: dead, left out of the live list until the
   * heartbeat expires or the node answers a probe again.
   */
  private readonly gone = new Map<string, number>();
  private readonly probing = new Set<string>();
  private readonly lostListeners: ((nodeId: string) => void)[] = [];
  private readonly logger: Logger;
  private readonly requestSeconds;

  constructor(
    @Inject(MEDIA_BUS) private readonly bus: MediaBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    private readonly clock: Clock,
  ) {
    this.logger = rootLogger.child({ component: 'media-cluster' });
    this.requestSeconds = metrics.histogram(
      'media_node_request_seconds',
      'requests from this process to media nodes, by method and outcome',
      ['method', 'outcome'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
    );
  }

  async onModuleInit(): Promise<void> {
    // A media node alone places and routes nothing: it reads the list when asked (its /health) and
    // probes nobody. Otherwise each node would ping every other node four times a second.
    if (this.config.role === 'media') return;
    this.refresher = setInterval(() => void this.refresh(true), this.refreshMs());
    this.refresher.unref();
  }

  /** Listener hears of a node found dead before its heartbeat expired (its rooms can move now). */
  onNodeLost(listener: (nodeId: string) => void): void {
    this.lostListeners.push(listener);
  }

  onModuleDestroy(): void {
    clearInterval(this.refresher);
  }

  /** The latest heartbeats; re-read now when `fresh` (after a suspected loss). */
  async liveNodes(fresh = false): Promise<MediaNodeStatus[]> {
    if (fresh || this.nodes.size === 0 || this.unrefreshedFor() >= this.refreshMs()) await this.refresh();
    return [...this.nodes.values()];
  }

  /** Whether the node's heartbeat is current; a node missing from the snapshot is looked up again first. */
  async isLive(nodeId: string, fresh = false): Promise<boolean> {
    if (fresh || !this.nodes.has(nodeId)) await this.refresh();
    return this.nodes.has(nodeId);
  }

  /**
   * The least loaded node taking rooms: fewest rooms, weighed with its
   * consumers and its workers' CPU. Prefers this process's own node on a tie.
   */
  async place(excluding: string[] = []): Promise<string> {
    let candidates = (await this.liveNodes()).filter((n) => n.accepting && !excluding.includes(n.nodeId));
    // None in the snapshot: read again, and once more after a heartbeat (a node replacing its worker).
    for (let attempt = 0; candidates.length === 0 && attempt < 2; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.refreshMs() * 2));
      candidates = (await this.liveNodes(true)).filter((n) => n.accepting && !excluding.includes(n.nodeId));
    }
    if (candidates.length === 0) throw new DomainError('INTERNAL', 'no media node can take the call');
    const score = (n: MediaNodeStatus) => (n.rooms + n.consumers / 4) / Math.max(1, n.workers) + n.workerCpu * 20;
    let best = candidates[0];
    for (const n of candidates) {
      const d = score(n) - score(best);
      if (d < 0 || (d === 0 && n.nodeId === this.bus.localNodeId)) best = n;
    }
    // Count the room now, so rooms placed before the next heartbeat spread out.
    best.rooms++;
    return best.nodeId;
  }

  /**
   * Node `nodeId`'s room API. Each call rejects with MediaNodeUnreachable
   * when the node does not answer in time (or is gone), and with the node's
   * DomainError when it refuses. `requestId` is carried for tracing.
   */
  node(nodeId: string, requestId?: string): MediaNodeApi {
    return new MediaNodeClient(nodeId, (method, args) => this.request(nodeId, method, args, requestId));
  }

  /** What the nodes tell the gateways on their own (quality samples, consumers made for a participant); resolves once they reach this process. */
  onPush(listener: (push: MediaNodePush) => void): Promise<void> {
    return this.bus.onPush(listener);
  }

  /** A push of this process's node for which `staysHere` is true reaches this process's listeners only. */
  keepPushesHereWhen(staysHere: (push: MediaNodePush) => boolean): void {
    this.bus.keepPushesHereWhen(staysHere);
  }

  /** Asks node `nodeId` to run `method` (node() types it); MediaNodeUnreachable when it does not answer in time. */
  private async request(nodeId: string, method: MediaNodeMethod, args: unknown[], requestId?: string): Promise<unknown> {
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    try {
      return await this.bus.request(nodeId, { method, args, requestId }, this.config.media.requestTimeoutMs);
    } catch (err) {
      outcome = err instanceof MediaNodeUnreachable ? 'unreachable' : err instanceof DomainError ? err.code : 'error';
      // Not taken out of the live list for a timeout alone: a node paused for a moment (GC) keeps
      // its rooms. Whether it is gone is for its heartbeat and the probes to say.
      if (err instanceof MediaNodeUnreachable) {
        // Nobody listening on its channel and none of its connections open: Redis knows that as
        // soon as the process dies (a crash, SIGKILL). A subscriber that only reconnected is not
        // that (the bus published again). A timeout alone is for a probe to look into.
        if (err.noSubscriber && err.nodeId === nodeId) this.markGone(nodeId);
        else void this.probe(nodeId);
      }
      throw err;
    } finally {
      this.requestSeconds.observe({ method, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  onEvent(listener: (event: MediaNodeEvent) => void): void {
    this.bus.onEvent(listener);
  }

  claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return this.bus.claimOnce(key, ttlMs);
  }

  /** How old the list is when nothing re-reads it on a timer (0 while the refresher runs). */
  private unrefreshedFor(): number {
    return this.refresher ? 0 : this.clock.now().getTime() - this.readAt;
  }

  private refreshMs(): number {
    return Math.min(NODES_REFRESH_MAX_MS, this.config.media.recoverySweepMs);
  }

  /** Re-reads the heartbeats; with `probe`, also checks each other node still listens. */
  private refresh(probe = false): Promise<void> {
    this.refreshing ??= this.bus
      .liveNodes()
      .then((list) => {
        const ids = new Set(list.map((n) => n.nodeId));
        // A node whose heartbeat expired is out of the list anyway; remembered a while longer so
        // late failures of requests to it (clean-ups) do not announce it lost again.
        const now = this.clock.now().getTime();
        this.readAt = now;
        for (const [id, since] of this.gone) if (!ids.has(id) && now - since > GONE_REMEMBERED_MS) this.gone.delete(id);
        this.nodes = new Map(list.filter((n) => !this.gone.has(n.nodeId)).map((n) => [n.nodeId, n]));
        if (probe) for (const id of ids) if (id !== this.bus.localNodeId) void this.probe(id);
      })
      .catch((err) => this.logger.warn({ err }, 'could not read the media nodes'))
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /**
   * Asks the node for a ping. An answer clears it; "no subscriber" (nobody
   * on its channel, none of its connections open) means the process is
   * gone: it leaves the live list at once and the listeners hear of it. A node
   * that does not answer in time (frozen, overloaded) is left to its
   * heartbeat's TTL.
   */
  private async probe(nodeId: string): Promise<void> {
    if (this.probing.has(nodeId) || nodeId === this.bus.localNodeId) return;
    this.probing.add(nodeId);
    try {
      await this.bus.request(nodeId, { method: 'ping' satisfies MediaNodeMethod, args: [] }, PROBE_TIMEOUT_MS);
      this.gone.delete(nodeId);
    } catch (err) {
      if (err instanceof MediaNodeUnreachable && err.noSubscriber && err.nodeId === nodeId) this.markGone(nodeId);
    } finally {
      this.probing.delete(nodeId);
    }
  }

  private markGone(nodeId: string): void {
    if (this.gone.has(nodeId) || nodeId === this.bus.localNodeId) return;
    this.gone.set(nodeId, this.clock.now().getTime());
    this.nodes.delete(nodeId);
    this.logger.warn({ nodeId }, 'media node gone: nobody listens on its channel and none of its connections is open');
    for (const listener of this.lostListeners) {
      try {
        listener(nodeId);
      } catch (err) {
        this.logger.error({ err, nodeId }, 'node-lost listener failed');
      }
    }
  }
}
