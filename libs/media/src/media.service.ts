import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { CallMedia, ConsumerInfoDto, DomainError, MediaKind, MediaStatsDto } from '@app/contracts';
import type {
  ConnectTransportParams,
  CreateTransportOptions,
  JoinRequest,
  JoinResult,
  MediaNodeApi,
  PlainRtpAddressing,
  ProduceResult,
  TransportKind,
} from '@app/media-routing';
import { PlainRtpPolicy } from '@app/media-routing';
import type { AutoConsumed, RoomQualitySample } from '@app/media-routing';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { MediaResourceCounter, MediaRoom, ProducerSummary, ROOM_LIMITS, RoomLimits, RoomListener, TransportInfo } from './media-room';
import { SpareRouters } from './spare-routers';
import { WorkerPool } from './worker-pool';

/** A room lost with its worker: re-opened on another worker (`restarted`) or not (`failed`). */
export interface RoomEvent {
  callId: string;
  type: 'restarted' | 'failed';
  reason: 'worker_died';
}

/** What this process holds in mediasoup right now (leak checks, health). */
export interface MediaCensus {
  rooms: number;
  /**
   * Routers alive in the workers, as the workers themselves report, less the
   * spares made ahead for the next calls.
   */
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

/** How long a lost room waits for a live worker (the pool replaces a dead one in well under a second). */
const WORKER_WAIT_MS = 5_000;
/** With CALL_QUALITY_INTERVAL_MS=0 nothing is pushed, but the call's statistics are still sampled this often. */
const DEFAULT_SAMPLE_MS = 5_000;
const SAMPLE_BATCH_ROOMS = 100;
/**
 * How long an ended call's opening is refused. An opening overtaken by the
 * end's close arrives milliseconds later; a minute is far more than that.
 */
const ENDED_CALL_MEMORY_MS = 60_000;

/**
 * The media rooms of this process: one mediasoup router per active call,
 * on the least loaded worker. A resource layer: it knows rooms, transports,
 * producers and consumers, and who the room's two participants are; the
 * call rules (who may call, the video flag, who to tell) are the calls
 * side's. Every request names its call, so a gateway in any process can
 * route it here: this is the node's MediaNodeApi. When a worker dies its
 * rooms are opened again on another worker and reported (`onRoomEvent`), so
 * the clients can renegotiate. Every room is sampled on a timer: the samples
 * are pushed (`onQuality`), feed the leg metrics and make the call's
 * statistics returned by closeRoom.
 */
@Injectable()
export class MediaService implements MediaNodeApi, OnModuleDestroy {
  private readonly rooms = new Map<string, MediaRoom>();
  private readonly opening = new Map<string, Promise<MediaRoom>>();
  private readonly spares: SpareRouters;
  /** Calls whose end closed their room here, oldest first, with when they may be forgotten. */
  private readonly endedCalls = new Map<string, number>();
  private readonly roomListeners: ((event: RoomEvent) => void)[] = [];
  private readonly counts = { transport: 0, producer: 0, consumer: 0 };
  private readonly counter: MediaResourceCounter;
  private readonly logger: Logger;
  private readonly roomsGauge;
  private readonly roomRecoveries;
  private readonly plainRtp: PlainRtpPolicy;
  private readonly consumerListeners: ((consumer: AutoConsumed) => void)[] = [];
  private readonly qualityListeners: ((sample: RoomQualitySample, participantIds: [string, string]) => void)[] = [];
  private readonly roomListener: RoomListener;
  private readonly legMetrics;
  private readonly plainSourcesRefused;
  private sampler?: NodeJS.Timeout;
  private sampling = false;
  /** Room limits; tests may lower or raise them (set before rooms open). */
  limits: RoomLimits = ROOM_LIMITS;

  constructor(
    private readonly pool: WorkerPool,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    private readonly clock: Clock,
  ) {
    this.logger = rootLogger.child({ component: 'media' });
    this.plainRtp = new PlainRtpPolicy(config.media.plainRtp, config.media.plainRtpAllowedCidrs);
    this.legMetrics = {
      bitrate: metrics.histogram(
        'media_leg_bitrate_bps',
        'bitrate of each producer (up) and consumer (down) per sample',
        ['kind', 'direction'],
        [8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 1_000_000, 2_000_000, 4_000_000],
      ),
      loss: metrics.histogram(
        'media_leg_loss_ratio',
        'share of packets lost per leg and sample',
        ['kind', 'direction'],
        [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      ),
      jitter: metrics.histogram(
        'media_leg_jitter_ms',
        'interarrival jitter of what the SFU received, per leg and sample',
        ['kind', 'direction'],
        [1, 2, 5, 10, 20, 30, 50, 100, 200, 500],
      ),
    };
    this.plainSourcesRefused = metrics.counter(
      'media_plain_sources_refused_total',
      'plain send transports closed because their RTP came from an address the participant may not send from',
    );
    this.roomListener = {
      consumerAdded: (consumer) => {
        for (const listener of this.consumerListeners) this.safely(() => listener(consumer));
      },
      plainSourceRefused: (callId, userId, remoteIp) => {
        this.plainSourcesRefused.inc();
        this.logger.warn({ callId, userId, remoteIp }, 'plain RTP from an address the participant may not send from: transport closed');
      },
    };
    this.roomsGauge = metrics.gauge('media_rooms_open', 'call media rooms (routers) open in this process');
    this.roomRecoveries = metrics.counter('media_room_recoveries_total', 'rooms lost with their worker, by outcome', ['outcome']);
    const gauges = {
      transport: metrics.gauge('media_transports', 'mediasoup transports open in this process'),
      producer: metrics.gauge('media_producers', 'mediasoup producers open in this process'),
      consumer: metrics.gauge('media_consumers', 'mediasoup consumers open in this process'),
    };
    this.counter = {
      opened: (r) => {
        this.counts[r]++;
        gauges[r].inc();
      },
      closed: (r) => {
        this.counts[r]--;
        gauges[r].dec();
      },
    };
    pool.onWorkerDied((pid) => void this.reopenRoomsOfWorker(pid));
    this.spares = new SpareRouters(() => pool.leastLoaded(), this.logger);
    // Voice calls are the common case: a spare for them is made as soon as a worker is up.
    pool.onWorkerSpawned(() => this.spares.fill('audio'));
    if (pool.aliveCount() > 0) this.spares.fill('audio');
    const every = config.calls.qualityIntervalMs > 0 ? config.calls.qualityIntervalMs : DEFAULT_SAMPLE_MS;
    this.sampler = setInterval(() => void this.sampleRooms(), every);
    this.sampler.unref();
  }

  /** Listener hears of each consumer made on a participant's behalf (auto-consume after a join). */
  onConsumerAdded(listener: (consumer: AutoConsumed) => void): void {
    this.consumerListeners.push(listener);
  }

  /** Listener gets each room's quality sample (not called with CALL_QUALITY_INTERVAL_MS=0). */
  onQuality(listener: (sample: RoomQualitySample, participantIds: [string, string]) => void): void {
    this.qualityListeners.push(listener);
  }

  /**
   * Samples every room once (the timer's work; tests call it to not wait):
   * each leg's figures feed the metrics and the call's statistics, and are
   * pushed when CALL_QUALITY_INTERVAL_MS is not 0.
   */
  async sampleRooms(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const push = this.config.calls.qualityIntervalMs > 0;
      const rooms = [...this.rooms.values()];
      // A batch of rooms at a time: thousands of getStats at once would queue on the workers' channels.
      for (let i = 0; i < rooms.length; i += SAMPLE_BATCH_ROOMS) await this.sampleBatch(rooms.slice(i, i + SAMPLE_BATCH_ROOMS), push);
    } finally {
      this.sampling = false;
    }
  }

  private async sampleBatch(rooms: MediaRoom[], push: boolean): Promise<void> {
    await Promise.all(
      rooms.map(async (room) => {
        try {
          const legs = await room.sample();
          for (const leg of legs) {
            const labels = { kind: leg.kind, direction: leg.direction };
            this.legMetrics.bitrate.observe(labels, leg.bitrateBps);
            if (leg.packets + leg.packetsLost > 0) this.legMetrics.loss.observe(labels, leg.lossRatio);
            // mediasoup 3.12 reports jitter for what it receives only (up); a down leg's is the client's to tell.
            if (leg.direction === 'up' && leg.packets > 0) this.legMetrics.jitter.observe(labels, leg.jitterMs);
          }
          if (!push || legs.length === 0 || room.closed) return;
          const sample: RoomQualitySample = { callId: room.callId, at: this.clock.now().toISOString(), legs };
          const ids = room.participantIds() as [string, string];
          for (const listener of this.qualityListeners) this.safely(() => listener(sample, ids));
        } catch (err) {
          this.logger.warn({ err, callId: room.callId }, 'could not sample a room');
        }
      }),
    );
  }

  onModuleDestroy(): void {
    clearInterval(this.sampler);
    this.spares.close();
    for (const room of this.rooms.values()) room.close();
    this.rooms.clear();
    this.roomsGauge.set(0);
  }

  /**
   * Opens the call's room on the least loaded worker, on the router made
   * ahead for its kind when one is ready. Opening an open room does nothing.
   */
  async openRoom(callId: string, media: CallMedia, participantIds: [string, string]): Promise<void> {
    if (this.rooms.has(callId)) return;
    if (this.hasEnded(callId)) throw new DomainError('NOT_FOUND', 'the call has ended');
    const pending = this.opening.get(callId);
    if (pending) {
      await pending;
      return;
    }
    const opening = MediaRoom.open(this.spares.take(media) ?? this.pool.leastLoaded(), callId, media, participantIds, {
      listen: this.listenAddress(),
      counter: this.counter,
      plainRtp: this.plainRtp,
      listener: this.roomListener,
      limits: this.limits,
      clock: this.clock,
    });
    this.opening.set(callId, opening);
    try {
      const room = await opening;
      this.rooms.set(callId, room);
      this.roomsGauge.set(this.rooms.size);
      this.logger.debug({ callId, media, workerPid: room.workerPid }, 'media room opened');
    } finally {
      this.opening.delete(callId);
    }
  }

  /**
   * Closes everything the call opened; returns its statistics (null if it had
   * no room here or it carried no media). With `ended`, later openings of the
   * call's room are refused (see MediaNodeApi.closeRoom).
   */
  async closeRoom(callId: string, ended = false): Promise<MediaStatsDto | null> {
    if (ended) this.rememberEnded(callId);
    await this.opening.get(callId)?.catch(() => undefined);
    const room = this.rooms.get(callId);
    if (!room) return null;
    // Out of the map first: requests arriving from now on find no room.
    this.rooms.delete(callId);
    this.roomsGauge.set(this.rooms.size);
    try {
      return await room.collectStats();
    } finally {
      room.close();
      this.logger.debug({ callId }, 'media room closed');
    }
  }

  private rememberEnded(callId: string): void {
    const now = this.clock.now().getTime();
    for (const [id, until] of this.endedCalls) {
      if (until > now) break;
      this.endedCalls.delete(id);
    }
    this.endedCalls.delete(callId);
    this.endedCalls.set(callId, now + ENDED_CALL_MEMORY_MS);
  }

  private hasEnded(callId: string): boolean {
    const until = this.endedCalls.get(callId);
    return until !== undefined && until > this.clock.now().getTime();
  }

  /** Listener hears of rooms that moved to another worker, or could not. */
  onRoomEvent(listener: (event: RoomEvent) => void): void {
    this.roomListeners.push(listener);
  }

  hasRoom(callId: string): boolean {
    return this.rooms.has(callId);
  }

  roomIds(): string[] {
    return [...this.rooms.keys()];
  }

  /** The worker process holding a call's router (tests kill it to simulate a crash). */
  workerPidOf(callId: string): number | undefined {
    return this.rooms.get(callId)?.workerPid;
  }

  async census(): Promise<MediaCensus> {
    await this.spares.settled();
    const dumps = await Promise.all(
      this.pool
        .workers()
        .filter((w) => !w.closed)
        .map((w) => w.dump().catch(() => ({ routerIds: [] as string[] }))),
    );
    return {
      rooms: this.rooms.size,
      routers: dumps.reduce((n, d) => n + (d as { routerIds: string[] }).routerIds.length, 0) - this.spares.count(),
      transports: this.counts.transport,
      producers: this.counts.producer,
      consumers: this.counts.consumer,
    };
  }

  /** Answers a gateway's liveness probe; reaching this at all is the answer. */
  async ping(): Promise<boolean> {
    return true;
  }

  /** Transports, producers and consumers held here now. */
  objectCounts(): { transport: number; producer: number; consumer: number } {
    return { ...this.counts };
  }

  /** Rooms and consumers held here (placement weighs nodes by these). */
  load(): { rooms: number; consumers: number } {
    return { rooms: this.rooms.size, consumers: this.counts.consumer };
  }

  // ---- requests of participants; the room checks the user belongs to it ----

  async capabilities(callId: string, userId: string): Promise<{ rtpCapabilities: Record<string, unknown>; producers: ProducerSummary[] }> {
    const room = this.room(callId, userId);
    return { rtpCapabilities: { ...room.rtpCapabilities }, producers: room.producersVisibleTo(userId) };
  }

  /** `plain-recv` transports are the ones whose target address the calls side vets. */
  async transportKind(callId: string, userId: string, transportId: string): Promise<TransportKind> {
    const kind = this.room(callId, userId).transportKind(transportId);
    if (!kind) throw DomainError.notFound('transport');
    return kind;
  }

  createTransport(callId: string, userId: string, options: CreateTransportOptions & PlainRtpAddressing): Promise<TransportInfo> {
    return this.room(callId, userId).createTransport(userId, options);
  }

  connectTransport(
    callId: string,
    userId: string,
    transportId: string,
    params: ConnectTransportParams & PlainRtpAddressing,
  ): Promise<void> {
    return this.room(callId, userId).connectTransport(userId, transportId, params);
  }

  produce(
    callId: string,
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<ProduceResult> {
    return this.room(callId, userId).produce(userId, transportId, kind, rtpParameters);
  }

  consume(
    callId: string,
    userId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Record<string, unknown>,
  ): Promise<ConsumerInfoDto> {
    return this.room(callId, userId).consume(userId, transportId, producerId, rtpCapabilities);
  }

  async join(callId: string, userId: string, request: JoinRequest): Promise<JoinResult> {
    // A join sent right behind its room's opening (call:accept with join) waits for it rather than find no room.
    await this.opening.get(callId)?.catch(() => undefined);
    return this.room(callId, userId).join(userId, request);
  }

  async resume(callId: string, userId: string, consumerId: string): Promise<void> {
    await this.room(callId, userId).resumeConsumer(userId, consumerId);
  }

  /** Closes the room's video producers (their consumers follow); returns what was closed. */
  async closeVideoProducers(callId: string): Promise<ProducerSummary[]> {
    const room = this.rooms.get(callId);
    return room ? room.closeVideoProducers() : [];
  }

  // ---- internals ----

  private room(callId: string, userId: string): MediaRoom {
    const room = this.rooms.get(callId);
    if (!room) throw new DomainError('NOT_FOUND', 'no media room for this call here');
    if (!room.isParticipant(userId)) throw new DomainError('FORBIDDEN', 'not a participant of this call');
    return room;
  }

  /** The room of a call, for tests that look inside it. */
  roomOf(callId: string): MediaRoom | undefined {
    return this.rooms.get(callId);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err }, 'media listener failed');
    }
  }

  private listenAddress() {
    return { listenIp: this.config.media.listenIp, announcedIp: this.config.media.announcedIp };
  }

  /**
   * A worker died and took its routers with it: each of its rooms is opened
   * again, empty, on a live worker (the pool is replacing the dead one), and
   * reported so that both participants negotiate again.
   */
  private async reopenRoomsOfWorker(pid: number): Promise<void> {
    const lost = [...this.rooms.values()].filter((room) => room.workerPid === pid);
    if (lost.length === 0) return;
    for (const room of lost) {
      this.rooms.delete(room.callId);
      room.close();
    }
    this.roomsGauge.set(this.rooms.size);
    const worker = await this.pool.whenAvailable(WORKER_WAIT_MS).catch(() => null);
    await Promise.all(
      lost.map(async (room) => {
        let type: RoomEvent['type'] = 'failed';
        if (worker) {
          try {
            await this.openRoom(room.callId, room.media, room.participantIds() as [string, string]);
            type = 'restarted';
          } catch (err) {
            this.logger.error({ err, callId: room.callId }, 'could not open a lost room again');
          }
        }
        this.roomRecoveries.inc({ outcome: type });
        this.logger.warn({ callId: room.callId, pid, outcome: type }, 'media room lost with its worker');
        for (const listener of this.roomListeners) {
          try {
            listener({ callId: room.callId, type, reason: 'worker_died' });
          } catch (err) {
            this.logger.error({ err, callId: room.callId }, 'room event listener failed');
          }
        }
      }),
    );
  }
}
