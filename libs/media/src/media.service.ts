import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { CallMedia, DomainError } from '@app/contracts';
import { FlagsService, VIDEO_CALL_FLAG } from '@app/flags';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RealtimeService } from '@app/realtime';
import { PlainRtpPolicy } from './plain-rtp-policy';
import {
  ConnectTransportParams,
  CreateTransportOptions,
  MediaKind,
  MediaResourceCounter,
  MediaRoom,
  ProducerSummary,
  TransportDirection,
  TransportInfo,
  TransportType,
} from './media-room';
import type { CallMediaStats } from './media-stats';
import { WorkerPool } from './worker-pool';

export type RoomFailedListener = (callId: string) => void | Promise<void>;

/** What this process holds in mediasoup right now (leak checks, health). */
export interface MediaCensus {
  rooms: number;
  /** Routers alive in the workers, as the workers themselves report. */
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

/**
 * The media side of calls: one room (router) per active call. The calls
 * service opens a room when a call is answered and closes it when the call
 * ends; only the room's two participants may use it. Rooms live in this
 * process (mediasoup objects are in-process), so a call's media requests
 * must reach the process that opened its room.
 */
@Injectable()
export class MediaService implements OnModuleDestroy {
  private readonly rooms = new Map<string, MediaRoom>();
  private readonly opening = new Map<string, Promise<MediaRoom>>();
  private readonly failedListeners: RoomFailedListener[] = [];
  private readonly counts = { transport: 0, producer: 0, consumer: 0 };
  private readonly counter: MediaResourceCounter;
  private readonly logger: Logger;
  private readonly roomsGauge;
  private readonly roomFailures;
  private readonly plainRtp: PlainRtpPolicy;

  constructor(
    private readonly pool: WorkerPool,
    private readonly realtime: RealtimeService,
    private readonly flags: FlagsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
  ) {
    this.logger = rootLogger.child({ component: 'media' });
    this.plainRtp = new PlainRtpPolicy(config.media.plainRtp, config.media.plainRtpAllowedCidrs);
    this.roomsGauge = metrics.gauge('media_rooms_open', 'call media rooms (routers) open in this process');
    this.roomFailures = metrics.counter('media_room_failures_total', 'rooms lost because their worker died');
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
    pool.onWorkerDied((pid) => this.failRoomsOnWorker(pid));
    flags.onChange((key) => this.recheckVideo(key));
  }

  onModuleDestroy(): void {
    for (const room of this.rooms.values()) room.close();
    this.rooms.clear();
    this.roomsGauge.set(0);
  }

  /** Opens the call's room on the least loaded worker. Opening an open room does nothing. */
  async openRoom(callId: string, media: CallMedia, participantIds: [string, string]): Promise<void> {
    if (this.rooms.has(callId)) return;
    const pending = this.opening.get(callId);
    if (pending) {
      await pending;
      return;
    }
    const listen = { listenIp: this.config.media.listenIp, announcedIp: this.config.media.announcedIp };
    const opening = MediaRoom.open(this.pool.leastLoaded(), callId, media, participantIds, listen, this.counter);
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

  /** Closes everything the call opened; returns its statistics (null if it had no room). */
  async closeRoom(callId: string): Promise<CallMediaStats | null> {
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

  /** Listener runs when a room is lost (its worker died): the call must end with media_failure. */
  onRoomFailed(listener: RoomFailedListener): void {
    this.failedListeners.push(listener);
  }

  hasRoom(callId: string): boolean {
    return this.rooms.has(callId);
  }

  /** The worker process holding a call's router (tests kill it to simulate a crash). */
  workerPidOf(callId: string): number | undefined {
    return this.rooms.get(callId)?.workerPid;
  }

  async census(): Promise<MediaCensus> {
    const dumps = await Promise.all(
      this.pool
        .workers()
        .filter((w) => !w.closed)
        .map((w) => w.dump().catch(() => ({ routerIds: [] as string[] }))),
    );
    return {
      rooms: this.rooms.size,
      routers: dumps.reduce((n, d) => n + (d as { routerIds: string[] }).routerIds.length, 0),
      transports: this.counts.transport,
      producers: this.counts.producer,
      consumers: this.counts.consumer,
    };
  }

  // ---- requests of participants (each one checks the user belongs to the room) ----

  async capabilities(
    userId: string,
    callId: string,
  ): Promise<{ rtpCapabilities: unknown; producers: ProducerSummary[] }> {
    const room = this.roomOfCall(userId, callId);
    return { rtpCapabilities: room.rtpCapabilities, producers: room.producersVisibleTo(userId) };
  }

  createTransport(userId: string, callId: string, options: CreateTransportOptions): Promise<TransportInfo> {
    const room = this.roomOfCall(userId, callId);
    if (options.type === 'plain') this.plainRtp.requireEnabled();
    return room.createTransport(userId, options);
  }

  /** `clientAddress`: where the user's socket comes from; a plain recv transport may only send there. */
  async connectTransport(
    userId: string,
    transportId: string,
    params: ConnectTransportParams,
    clientAddress?: string,
  ): Promise<void> {
    const room = this.roomOf(userId, (r) => r.hasTransport(transportId), 'transport');
    if (params.ip !== undefined && room.transportKind(transportId) === 'plain-recv') {
      this.plainRtp.requireAllowedTarget(params.ip, clientAddress);
    }
    await room.connectTransport(userId, transportId, params);
  }

  async produce(
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<{ producerId: string }> {
    const room = this.roomOf(userId, (r) => r.hasTransport(transportId), 'transport');
    if (kind === 'video') await this.requireVideoAllowed(room);
    const produced = await room.produce(userId, transportId, kind, rtpParameters);
    if (kind === 'video' && !(await this.videoAllowed(room))) {
      // The flag went off while the producer was being made: the switch-off sweep may have missed it.
      await this.closeVideo(room, 'flag_off');
      throw new DomainError('VIDEO_CALL_DISABLED', 'video calling is switched off');
    }
    this.realtime.toUser(room.otherParticipant(userId), 'media:producer-added', {
      callId: room.callId,
      producerId: produced.producerId,
      userId,
      kind,
    });
    return { producerId: produced.producerId };
  }

  consume(userId: string, transportId: string, producerId: string, rtpCapabilities: Record<string, unknown>) {
    return this.roomOf(userId, (r) => r.hasTransport(transportId), 'transport').consume(
      userId,
      transportId,
      producerId,
      rtpCapabilities,
    );
  }

  async resume(userId: string, consumerId: string): Promise<void> {
    await this.roomOf(userId, (r) => r.hasConsumer(consumerId), 'consumer').resumeConsumer(userId, consumerId);
  }

  // ---- internals ----

  private roomOfCall(userId: string, callId: string): MediaRoom {
    const room = this.rooms.get(callId);
    if (!room) throw new DomainError('NOT_FOUND', 'no active call with this id has media here');
    if (!room.isParticipant(userId)) throw new DomainError('FORBIDDEN', 'not a participant of this call');
    return room;
  }

  /** Only the user's own rooms are searched, so another call's ids look unknown. */
  private roomOf(userId: string, holds: (room: MediaRoom) => boolean, what: string): MediaRoom {
    for (const room of this.rooms.values()) {
      if (room.isParticipant(userId) && holds(room)) return room;
    }
    throw DomainError.notFound(what);
  }

  private videoAllowed(room: MediaRoom): Promise<boolean> {
    if (room.media !== 'video') return Promise.resolve(false);
    return this.flags.isEnabledForAll(VIDEO_CALL_FLAG, room.participantIds());
  }

  private async requireVideoAllowed(room: MediaRoom): Promise<void> {
    if (room.media !== 'video') throw new DomainError('VIDEO_CALL_DISABLED', 'this is an audio call');
    if (!(await this.videoAllowed(room))) {
      throw new DomainError('VIDEO_CALL_DISABLED', 'video calling is off for one of the participants');
    }
  }

  private async closeVideo(room: MediaRoom, reason: string): Promise<void> {
    const closed = await room.closeVideoProducers();
    for (const producer of closed) {
      for (const userId of room.participantIds()) {
        this.realtime.toUser(userId, 'media:producer-closed', { callId: room.callId, producerId: producer.producerId, reason });
      }
    }
    if (closed.length > 0) this.logger.info({ callId: room.callId, closed: closed.length, reason }, 'video producers closed');
  }

  /** A flag change may switch video off for a live call: its video stops, its audio goes on. */
  private async recheckVideo(key: string): Promise<void> {
    if (key !== VIDEO_CALL_FLAG) return;
    for (const room of [...this.rooms.values()]) {
      if (room.media !== 'video' || !room.hasVideoProducers()) continue;
      try {
        if (!(await this.videoAllowed(room))) await this.closeVideo(room, 'flag_off');
      } catch (err) {
        this.logger.error({ err, callId: room.callId }, 'could not re-check video after a flag change');
      }
    }
  }

  private failRoomsOnWorker(pid: number): void {
    for (const [callId, room] of [...this.rooms]) {
      if (room.workerPid !== pid) continue;
      this.rooms.delete(callId);
      room.close();
      this.roomFailures.inc();
      this.logger.error({ callId, pid }, 'media room lost with its worker');
      for (const listener of this.failedListeners) {
        Promise.resolve()
          .then(() => listener(callId))
          .catch((err) => this.logger.error({ err, callId }, 'room-failed listener failed'));
      }
    }
    this.roomsGauge.set(this.rooms.size);
  }
}
