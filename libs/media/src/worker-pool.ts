import { EventEmitter } from 'node:events';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { coalesceWorkerChannelWritesPerTurn } from './coalesced-channel-writes';

interface PoolSlot {
  index: number;
  worker: ms.Worker;
  /** Every WebRTC transport of this worker shares this server's one UDP and one TCP port. */
  webRtcServer: ms.WebRtcServer;
  webRtcPort: number;
  routers: number;
}

/** A worker and its shared WebRTC listening port: what a room is opened on. */
export interface MediaWorker {
  worker: ms.Worker;
  webRtcServer: ms.WebRtcServer;
}

export interface WorkerState {
  pid: number;
  alive: boolean;
  routers: number;
  /** The WebRtcServer's port (UDP and TCP), 0 while the worker is down. */
  webRtcPort: number;
}

/**
 * The mediasoup workers of this process: one per core unless MEDIA_WORKERS
 * says otherwise. A worker that dies is reported (so its calls can end),
 * logged and replaced. Each worker gets its own slice of the RTP port range
 * (plain transports) and one WebRtcServer on MEDIA_WEBRTC_PORT + its index,
 * UDP and TCP, shared by all of its WebRTC transports (0: a free port from
 * the worker's slice, for tests that start several processes).
 */
@Injectable()
export class WorkerPool implements OnModuleInit, OnModuleDestroy {
  private readonly slots: (PoolSlot | undefined)[] = [];
  private readonly events = new EventEmitter();
  private closing = false;
  private readonly logger: Logger;
  private readonly deaths;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    private readonly clock: Clock,
  ) {
    this.logger = rootLogger.child({ component: 'media' });
    this.deaths = metrics.counter('media_worker_deaths_total', 'mediasoup workers that died');
  }

  async onModuleInit(): Promise<void> {
    coalesceWorkerChannelWritesPerTurn();
    const n = this.config.media.workers;
    await Promise.all(Array.from({ length: n }, (_, i) => this.spawn(i)));
    this.logger.info({ workers: n, pids: this.workers().map((w) => w.pid) }, 'mediasoup workers started');
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    for (const slot of this.slots) slot?.worker.close();
  }

  /** The worker with the fewest routers: new calls go there. */
  leastLoaded(): MediaWorker {
    const live = this.slots.filter((s): s is PoolSlot => s !== undefined && !s.worker.closed);
    if (live.length === 0) throw new Error('no mediasoup worker available');
    const slot = live.reduce((a, b) => (b.routers < a.routers ? b : a));
    return { worker: slot.worker, webRtcServer: slot.webRtcServer };
  }

  workers(): ms.Worker[] {
    return this.slots.filter((s): s is PoolSlot => s !== undefined).map((s) => s.worker);
  }

  aliveCount(): number {
    return this.workers().filter((w) => !w.closed).length;
  }

  state(): WorkerState[] {
    return this.slots.map((s) => ({
      pid: s?.worker.pid ?? 0,
      alive: s !== undefined && !s.worker.closed,
      routers: s?.routers ?? 0,
      webRtcPort: s?.webRtcPort ?? 0,
    }));
  }

  isHealthy(): boolean {
    const states = this.state();
    return states.length > 0 && states.every((s) => s.alive);
  }

  /** A live worker, waiting up to `timeoutMs` for one (after a death, until it is replaced). */
  async whenAvailable(timeoutMs: number): Promise<MediaWorker> {
    const deadline = this.clock.now().getTime() + timeoutMs;
    for (;;) {
      try {
        return this.leastLoaded();
      } catch (err) {
        if (this.closing || this.clock.now().getTime() >= deadline) throw err;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, deadline - this.clock.now().getTime()));
          this.events.once('spawned', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  }

  /** CPU the workers used (user + system, ms) since they started; for load reports. */
  async cpuTimeMs(): Promise<number> {
    const usages = await Promise.all(
      this.workers()
        .filter((w) => !w.closed)
        .map((w) => w.getResourceUsage().catch(() => ({ ru_utime: 0, ru_stime: 0 }))),
    );
    return usages.reduce((sum, u) => sum + u.ru_utime + u.ru_stime, 0);
  }

  /** Listener runs when a worker (first or replacement) is ready. */
  onWorkerSpawned(listener: () => void): void {
    this.events.on('spawned', listener);
  }

  /** Listener gets the pid of a worker that died; its routers are already gone. */
  onWorkerDied(listener: (pid: number) => void): void {
    this.events.on('died', listener);
  }

  private portRange(index: number): { rtcMinPort: number; rtcMaxPort: number } {
    const { minPort, maxPort, workers } = this.config.media;
    const size = Math.floor((maxPort - minPort + 1) / workers);
    if (size < 2) return { rtcMinPort: minPort, rtcMaxPort: maxPort };
    const rtcMinPort = minPort + index * size;
    return { rtcMinPort, rtcMaxPort: index === workers - 1 ? maxPort : rtcMinPort + size - 1 };
  }

  private async spawn(index: number): Promise<void> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn', ...this.portRange(index) });
    let webRtcServer: ms.WebRtcServer;
    let webRtcPort: number;
    try {
      webRtcServer = await this.createWebRtcServer(worker, index);
      // Read back: with MEDIA_WEBRTC_PORT=0 the worker picked the port.
      const dump = (await webRtcServer.dump()) as { udpSockets: { port: number }[] };
      webRtcPort = dump.udpSockets[0]?.port ?? 0;
    } catch (err) {
      worker.close();
      throw err;
    }
    const slot: PoolSlot = { index, worker, webRtcServer, webRtcPort, routers: 0 };
    this.slots[index] = slot;
    worker.observer.on('newrouter', (router: ms.Router) => {
      slot.routers++;
      router.observer.once('close', () => slot.routers--);
    });
    worker.once('died', (error: Error) => this.handleDeath(slot, error));
    this.events.emit('spawned', index);
  }

  private createWebRtcServer(worker: ms.Worker, index: number): Promise<ms.WebRtcServer> {
    const { listenIp, announcedIp, webRtcPort } = this.config.media;
    const port = webRtcPort === 0 ? undefined : webRtcPort + index;
    return worker.createWebRtcServer({
      listenInfos: (['udp', 'tcp'] as const).map((protocol) => ({ protocol, ip: listenIp, announcedIp, port })),
      appData: { workerIndex: index },
    });
  }

  private handleDeath(slot: PoolSlot, error: Error): void {
    const pid = slot.worker.pid;
    if (this.slots[slot.index] === slot) this.slots[slot.index] = undefined;
    if (this.closing) return;
    this.deaths.inc();
    this.logger.error({ pid, err: error.message }, 'mediasoup worker died; replacing it');
    this.events.emit('died', pid);
    this.spawn(slot.index).then(
      () => this.logger.info({ pid: this.slots[slot.index]?.worker.pid }, 'mediasoup worker replaced'),
      (err: Error) => this.logger.error({ err: err.message }, 'mediasoup worker could not be replaced'),
    );
  }
}
