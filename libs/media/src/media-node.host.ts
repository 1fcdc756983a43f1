import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { MEDIA_BUS, MediaBus, mediaNodeHandler, MediaNodePush } from '@app/media-routing';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { MediaService } from './media.service';
import { WorkerPool } from './worker-pool';

/** A draining node waits this long at most for the gateways to move its rooms. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Makes this process a media node: serves the room API to gateways through
 * the media bus, reports its load by heartbeat, tells the gateways about
 * rooms that moved between its workers, and drains on shutdown (stops
 * taking rooms, asks the gateways to move its rooms elsewhere, waits for
 * them to go, then lets the process stop).
 */
@Injectable()
export class MediaNodeHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private heartbeat?: NodeJS.Timeout;
  private accepting = true;
  private lastCpu?: { at: number; cpuMs: number };
  private workerCpu = 0;
  private readonly logger: Logger;
  private readonly workerCpuGauge;
  private readonly objectsGauge;

  constructor(
    private readonly media: MediaService,
    private readonly pool: WorkerPool,
    @Inject(MEDIA_BUS) private readonly bus: MediaBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    private readonly clock: Clock,
  ) {
    this.logger = rootLogger.child({ component: 'media-node' });
    this.workerCpuGauge = metrics.gauge(
      'media_node_worker_cpu',
      "share of a core this node's mediasoup workers used since the last heartbeat",
      ['node'],
    );
    this.objectsGauge = metrics.gauge('media_node_objects', 'mediasoup objects this node holds, by kind', ['node', 'object']);
  }

  get nodeId(): string {
    return this.bus.localNodeId;
  }

  async onApplicationBootstrap(): Promise<void> {
    // MediaService is the node's MediaNodeApi; the handler checks each request's shape first.
    await this.bus.serve(mediaNodeHandler(this.media));
    // What the node does on its own reaches every gateway; each pushes it to the sockets it holds.
    this.media.onConsumerAdded((consumer) => this.push({ type: 'consumer-added', nodeId: this.nodeId, consumer }));
    this.media.onQuality((sample, participantIds) => this.push({ type: 'quality', nodeId: this.nodeId, sample, participantIds }));
    this.media.onRoomEvent((event) => {
      void this.bus
        .publishEvent({
          type: event.type === 'restarted' ? 'room-restarted' : 'room-failed',
          nodeId: this.nodeId,
          callId: event.callId,
          reason: event.reason,
        })
        .catch((err) => this.logger.error({ err }, 'could not announce a room event'));
    });
    // A worker coming or going changes whether this node takes rooms: tell the gateways at once.
    this.pool.onWorkerSpawned(() => void this.beat());
    this.pool.onWorkerDied(() => void this.beat());
    await this.beat();
    // MEDIA_HEARTBEAT_TTL_MS is at least two beats: one late beat (a GC pause, a busy loop) is not a death.
    this.heartbeat = setInterval(() => void this.beat(), this.config.media.heartbeatMs);
    this.heartbeat.unref();
    this.logger.info({ nodeId: this.nodeId, workers: this.pool.aliveCount() }, 'media node serving');
  }

  /** Drain: placement skips this node, the gateways move its rooms, then the process may stop. */
  async drain(timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> {
    if (!this.accepting) return;
    this.accepting = false;
    await this.beat();
    const rooms = this.media.roomIds().length;
    if (rooms === 0) return;
    this.logger.info({ rooms }, 'draining: asking the gateways to move this node’s rooms');
    await this.bus.publishEvent({ type: 'node-draining', nodeId: this.nodeId, reason: 'drain' });
    const deadline = this.clock.now().getTime() + timeoutMs;
    while (this.media.roomIds().length > 0 && this.clock.now().getTime() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const left = this.media.roomIds().length;
    if (left > 0) this.logger.warn({ rooms: left }, 'drain timed out; rooms left behind');
    else this.logger.info('drained: no rooms left');
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    if (signal === 'SIGTERM' || signal === 'SIGINT') await this.drain();
    clearInterval(this.heartbeat);
    await this.bus.withdrawStatus().catch(() => undefined);
  }

  private push(push: MediaNodePush): void {
    void this.bus.publishPush(push).catch((err) => this.logger.warn({ err, type: push.type }, 'could not publish a media push'));
  }

  private async beat(): Promise<void> {
    try {
      const now = this.clock.now().getTime();
      // The heartbeat is what keeps this node's rooms here: it never waits long on busy workers
      // for their CPU figure (the last one is sent again instead).
      const cpuMs = await Promise.race([
        this.pool.cpuTimeMs(),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), this.config.media.heartbeatMs / 2).unref()),
      ]);
      if (cpuMs !== null) {
        this.workerCpu = this.lastCpu ? Math.max(0, cpuMs - this.lastCpu.cpuMs) / Math.max(1, now - this.lastCpu.at) : 0;
        this.lastCpu = { at: now, cpuMs };
      }
      const workerCpu = this.workerCpu;
      const { rooms, consumers } = this.media.load();
      const census = this.media.objectCounts();
      this.workerCpuGauge.set({ node: this.nodeId }, workerCpu);
      this.objectsGauge.set({ node: this.nodeId, object: 'room' }, rooms);
      for (const object of ['transport', 'producer', 'consumer'] as const)
        this.objectsGauge.set({ node: this.nodeId, object }, census[object]);
      await this.bus.publishStatus(
        {
          nodeId: this.nodeId,
          accepting: this.accepting && this.pool.aliveCount() > 0,
          rooms,
          consumers,
          workerCpu,
          workers: this.pool.aliveCount(),
        },
        this.config.media.heartbeatTtlMs,
      );
    } catch (err) {
      this.logger.warn({ err }, 'media node heartbeat failed');
    }
  }
}
