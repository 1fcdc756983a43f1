import type { types as ms } from 'mediasoup';
import { CallMedia, ConsumerInfoDto, DomainError, MediaKind, ProducerSummaryDto, TransportInfoDto, TransportType } from '@app/contracts';
import type { ConnectTransportParams, CreateTransportOptions, ProduceResult, TransportDirection, TransportKind } from '@app/media-routing';
import { routerCodecsFor } from './media-codecs';
import {
  ParticipantMediaStats,
  StreamStats,
  summariseConsumerStats,
  summariseProducerStats,
} from './media-stats';


export interface MediaListenAddress {
  listenIp: string;
  announcedIp?: string;
}

/** Counts kept by whoever owns the rooms (the service exports them as metrics). */
export interface MediaResourceCounter {
  opened(resource: 'transport' | 'producer' | 'consumer'): void;
  closed(resource: 'transport' | 'producer' | 'consumer'): void;
}

export type TransportInfo = TransportInfoDto;
export type ProducerSummary = ProducerSummaryDto;

/** A 1:1 call needs few objects; the caps stop a client from filling a worker. */
export const ROOM_LIMITS = { transportsPerUser: 4, producersPerKindPerUser: 1, consumersPerUser: 8 };

interface OwnedTransport {
  transport: ms.WebRtcTransport | ms.PlainTransport;
  type: TransportType;
  direction: TransportDirection;
  rtcpMux: boolean;
  connected: boolean;
}

/**
 * One participant's share of the room; entries remove themselves when
 * mediasoup closes them. A request takes its slot (`reserved`) before it
 * awaits the worker and gives it back if the worker fails, so limits hold
 * for requests that arrive together.
 */
class ParticipantMedia {
  readonly transports = new Map<string, OwnedTransport>();
  readonly producers = new Map<string, ms.Producer>();
  readonly consumers = new Map<string, ms.Consumer>();
  readonly reserved = { transports: 0, consumers: 0, producerKinds: new Set<MediaKind>() };
  /**
   * Producers being consumed right now (between the checks and the worker's
   * answer): one consume of a producer at a time per participant.
   */
  readonly consumingProducerIds = new Set<string>();
  /** Figures of producers/consumers closed before the room (e.g. video switched off). */
  readonly retired: { producers: StreamStats[]; consumers: StreamStats[] } = { producers: [], consumers: [] };

  constructor(readonly userId: string) {}
}

const STATS_TIMEOUT_MS = 2_000;

/**
 * The media of one active call: it owns the call's router and, per
 * participant, the transports, producers and consumers they created.
 * close() is idempotent; closing the router closes everything below it.
 */
export class MediaRoom {
  private readonly participants: Map<string, ParticipantMedia>;
  private closedByUs = false;
  private readonly closingProducers = new Set<string>();
  readonly openedAt = new Date();

  private constructor(
    readonly callId: string,
    readonly media: CallMedia,
    readonly router: ms.Router,
    readonly workerPid: number,
    private readonly webRtcServer: ms.WebRtcServer,
    participantIds: [string, string],
    private readonly listen: MediaListenAddress,
    private readonly counter: MediaResourceCounter,
  ) {
    this.participants = new Map(participantIds.map((id) => [id, new ParticipantMedia(id)]));
  }

  static async open(
    { worker, webRtcServer }: { worker: ms.Worker; webRtcServer: ms.WebRtcServer },
    callId: string,
    media: CallMedia,
    participantIds: [string, string],
    listen: MediaListenAddress,
    counter: MediaResourceCounter,
  ): Promise<MediaRoom> {
    const router = await worker.createRouter({ mediaCodecs: routerCodecsFor(media), appData: { callId } });
    return new MediaRoom(callId, media, router, worker.pid, webRtcServer, participantIds, listen, counter);
  }

  get closed(): boolean {
    return this.closedByUs || this.router.closed;
  }

  get rtpCapabilities(): ms.RtpCapabilities {
    return this.router.rtpCapabilities;
  }

  participantIds(): string[] {
    return [...this.participants.keys()];
  }

  isParticipant(userId: string): boolean {
    return this.participants.has(userId);
  }

  otherParticipant(userId: string): string {
    const other = this.participantIds().find((id) => id !== userId);
    if (other === undefined) throw new Error('a room has two participants');
    return other;
  }

  /** What a transport is, for policies applied before it is connected. */
  transportKind(id: string): TransportKind | undefined {
    for (const p of this.participants.values()) {
      const owned = p.transports.get(id);
      if (owned) return owned.type === 'webrtc' ? 'webrtc' : owned.direction === 'send' ? 'plain-send' : 'plain-recv';
    }
    return undefined;
  }

  /** Live producers of the participants other than `userId` (what that user can consume). */
  producersVisibleTo(userId: string): ProducerSummary[] {
    return [...this.participants.values()]
      .filter((p) => p.userId !== userId)
      .flatMap((p) =>
        [...p.producers.values()].map((producer) => ({
          producerId: producer.id,
          userId: p.userId,
          kind: producer.kind as MediaKind,
        })),
      );
  }

  hasVideoProducers(): boolean {
    return [...this.participants.values()].some((p) => [...p.producers.values()].some((pr) => pr.kind === 'video'));
  }

  async createTransport(userId: string, options: CreateTransportOptions): Promise<TransportInfo> {
    const { direction, type } = options;
    const rtcpMux = type === 'webrtc' || options.rtcpMux !== false;
    const participant = this.requireParticipant(userId);
    if (participant.transports.size + participant.reserved.transports >= ROOM_LIMITS.transportsPerUser) {
      throw new DomainError('INVALID_STATE', `at most ${ROOM_LIMITS.transportsPerUser} transports per participant`);
    }
    participant.reserved.transports++;
    const appData = { callId: this.callId, userId, direction };
    const listenIp = { ip: this.listen.listenIp, announcedIp: this.listen.announcedIp };
    let transport: ms.WebRtcTransport | ms.PlainTransport;
    try {
      transport = await this.whileOpen<ms.WebRtcTransport | ms.PlainTransport>(() =>
        type === 'webrtc'
          ? // All WebRTC transports of a worker share its WebRtcServer's one UDP and one TCP port.
            this.router.createWebRtcTransport({
              webRtcServer: this.webRtcServer,
              enableUdp: true,
              enableTcp: true,
              preferUdp: true,
              appData,
            })
          : // Send transports learn the client's address from its first packets (comedia).
            this.router.createPlainTransport({ listenIp, rtcpMux, comedia: direction === 'send', appData }),
      );
      this.track(participant.transports, transport.id, { transport, type, direction, rtcpMux, connected: false }, transport, 'transport');
    } finally {
      participant.reserved.transports--;
    }
    if (type === 'webrtc') {
      const t = transport as ms.WebRtcTransport;
      return {
        transportId: t.id,
        iceParameters: { ...t.iceParameters },
        iceCandidates: t.iceCandidates.map((c) => ({ ...c })),
        dtlsParameters: { ...t.dtlsParameters },
      };
    }
    const plain = transport as ms.PlainTransport;
    const { localIp, localPort } = plain.tuple;
    return rtcpMux
      ? { transportId: plain.id, ip: localIp, port: localPort }
      : { transportId: plain.id, ip: localIp, port: localPort, rtcpPort: plain.rtcpTuple?.localPort };
  }

  async connectTransport(userId: string, transportId: string, params: ConnectTransportParams): Promise<void> {
    const owned = this.requireOwnTransport(userId, transportId);
    if (owned.connected) throw new DomainError('INVALID_STATE', 'transport already connected');
    if (owned.type === 'webrtc' && params.dtlsParameters === undefined) {
      throw missingFields(['dtlsParameters'], 'a webrtc transport needs dtlsParameters');
    }
    if (owned.type === 'plain' && owned.direction === 'recv') {
      const needed = owned.rtcpMux ? (['ip', 'port'] as const) : (['ip', 'port', 'rtcpPort'] as const);
      const missing = needed.filter((f) => params[f] === undefined);
      if (missing.length > 0) {
        throw missingFields(
          [...missing],
          owned.rtcpMux
            ? 'a plain recv transport needs the ip and port to send RTP to'
            : 'a plain recv transport without rtcpMux needs the ip, port and rtcpPort to send RTP and RTCP to',
        );
      }
    }
    // Marked first so a second connect racing this one is refused, not passed to mediasoup.
    owned.connected = true;
    try {
      if (owned.type === 'webrtc') {
        await this.whileOpen(() =>
          (owned.transport as ms.WebRtcTransport).connect({
            dtlsParameters: params.dtlsParameters as unknown as ms.DtlsParameters,
          }),
        );
      } else if (owned.direction === 'recv') {
        const rtcpPort = owned.rtcpMux ? undefined : params.rtcpPort;
        await this.whileOpen(() => (owned.transport as ms.PlainTransport).connect({ ip: params.ip, port: params.port, rtcpPort }));
      }
      // A plain send transport needs nothing: comedia takes the first packet's source.
    } catch (err) {
      owned.connected = false;
      throw err;
    }
  }

  async produce(
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<ProduceResult> {
    const owned = this.requireOwnTransport(userId, transportId);
    if (owned.direction !== 'send') throw new DomainError('INVALID_STATE', 'this transport was created to receive');
    if (kind === 'video' && this.media !== 'video') {
      throw new DomainError('VIDEO_CALL_DISABLED', 'this is an audio call');
    }
    const participant = this.requireParticipant(userId);
    const sameKind = [...participant.producers.values()].filter((p) => p.kind === kind);
    // ROOM_LIMITS.producersPerKindPerUser is 1: a kind being produced right now counts as produced.
    // Producing it again on the same transport is refused; on a new send transport it is a client
    // that started over (restart, reconnect) and the new producer replaces the old one.
    if (participant.reserved.producerKinds.has(kind) || sameKind.some((p) => owned.transport.id === transportOf(p))) {
      throw new DomainError('INVALID_STATE', `already producing ${kind}`);
    }
    participant.reserved.producerKinds.add(kind);
    try {
      const producer = await this.whileOpen(() =>
        owned.transport.produce({
          kind,
          rtpParameters: rtpParameters as unknown as ms.RtpParameters,
          appData: { callId: this.callId, userId, transportId: owned.transport.id },
        }),
      );
      this.track(participant.producers, producer.id, producer, producer, 'producer');
      const replacedProducerIds: string[] = [];
      for (const old of sameKind) if (await this.supersede(participant, { producer: old })) replacedProducerIds.push(old.id);
      return { producerId: producer.id, userId, kind, replacedProducerIds };
    } finally {
      participant.reserved.producerKinds.delete(kind);
    }
  }

  async consume(
    userId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Record<string, unknown>,
  ): Promise<ConsumerInfoDto> {
    const owned = this.requireOwnTransport(userId, transportId);
    if (owned.direction !== 'recv') throw new DomainError('INVALID_STATE', 'this transport was created to send');
    const participant = this.requireParticipant(userId);
    const other = this.participants.get(this.otherParticipant(userId));
    if (!other?.producers.has(producerId)) throw DomainError.notFound('producer');
    if (participant.consumers.size + participant.reserved.consumers >= ROOM_LIMITS.consumersPerUser) {
      throw new DomainError('INVALID_STATE', `at most ${ROOM_LIMITS.consumersPerUser} consumers per participant`);
    }
    const caps = rtpCapabilities as unknown as ms.RtpCapabilities;
    let canConsume = false;
    try {
      canConsume = this.router.canConsume({ producerId, rtpCapabilities: caps });
    } catch (err) {
      throw invalidField('rtpCapabilities', (err as Error).message);
    }
    if (!canConsume) throw invalidField('rtpCapabilities', 'these capabilities cannot receive that producer');
    // A producer is consumed once per receive transport, one request at a time. Consuming it on a
    // new receive transport (a client that started over) replaces the consumer on the old one, so
    // a participant never holds two consumers of one producer.
    const earlier = [...participant.consumers.values()].filter((c) => c.producerId === producerId);
    if (participant.consumingProducerIds.has(producerId) || earlier.some((c) => transportOf(c) === owned.transport.id)) {
      throw new DomainError('INVALID_STATE', 'this producer is already consumed by you');
    }
    participant.reserved.consumers++;
    participant.consumingProducerIds.add(producerId);
    let consumer: ms.Consumer;
    try {
      // Paused until the client says it is ready (media:resume), so no first packets are lost.
      consumer = await this.whileOpen(() =>
        owned.transport.consume({ producerId, rtpCapabilities: caps, paused: true, appData: { userId, transportId: owned.transport.id } }),
      );
      this.track(participant.consumers, consumer.id, consumer, consumer, 'consumer');
      for (const old of earlier) await this.supersede(participant, { consumer: old });
    } finally {
      participant.consumingProducerIds.delete(producerId);
      participant.reserved.consumers--;
    }
    return {
      consumerId: consumer.id,
      producerId,
      kind: consumer.kind as MediaKind,
      rtpParameters: { ...consumer.rtpParameters },
    };
  }

  async resumeConsumer(userId: string, consumerId: string): Promise<void> {
    const consumer = this.requireParticipant(userId).consumers.get(consumerId);
    if (!consumer) throw DomainError.notFound('consumer');
    await this.whileOpen(() => consumer.resume());
  }

  /** Closes every video producer (their consumers follow); returns what was closed. */
  async closeVideoProducers(): Promise<ProducerSummary[]> {
    const targets: { participant: ParticipantMedia; producer: ms.Producer }[] = [];
    for (const participant of this.participants.values()) {
      for (const producer of participant.producers.values()) {
        // Two sweeps at once (two flag changes) must not close or count a producer twice.
        if (producer.kind !== 'video' || this.closingProducers.has(producer.id)) continue;
        this.closingProducers.add(producer.id);
        targets.push({ participant, producer });
      }
    }
    const closed: ProducerSummary[] = [];
    for (const { participant, producer } of targets) {
      try {
        if (producer.closed) continue;
        await this.retire(participant, producer);
        producer.close();
        closed.push({ producerId: producer.id, userId: participant.userId, kind: 'video' });
      } finally {
        this.closingProducers.delete(producer.id);
      }
    }
    return closed;
  }

  /** Per participant: what each producer received and each consumer sent, as mediasoup counted it. */
  async collectStats(): Promise<Record<string, ParticipantMediaStats>> {
    const result: Record<string, ParticipantMediaStats> = {};
    for (const participant of this.participants.values()) {
      const producers = await Promise.all(
        [...participant.producers.values()].map(async (p) =>
          summariseProducerStats(p.id, p.kind, await withTimeout(p.getStats(), [])),
        ),
      );
      const consumers = await Promise.all(
        [...participant.consumers.values()].map(async (c) =>
          summariseConsumerStats(c.id, c.producerId, c.kind, await withTimeout(c.getStats(), [])),
        ),
      );
      result[participant.userId] = {
        producers: [...participant.retired.producers, ...producers],
        consumers: [...participant.retired.consumers, ...consumers],
      };
    }
    return result;
  }

  /** Idempotent: the router's close cascades to every transport, producer and consumer. */
  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.router.close();
  }

  private async retire(participant: ParticipantMedia, producer: ms.Producer): Promise<void> {
    participant.retired.producers.push(
      summariseProducerStats(producer.id, producer.kind, await withTimeout(producer.getStats(), [])),
    );
    for (const other of this.participants.values()) {
      for (const consumer of other.consumers.values()) {
        if (consumer.producerId !== producer.id) continue;
        other.retired.consumers.push(
          summariseConsumerStats(consumer.id, consumer.producerId, consumer.kind, await withTimeout(consumer.getStats(), [])),
        );
      }
    }
  }

  /**
   * Closes a producer or consumer that a newer one of the same participant
   * replaced, keeping its figures for the call's statistics, and its
   * transport too when nothing else lives on it: a client that starts over
   * does not pile up transports towards its limit.
   */
  private async supersede(participant: ParticipantMedia, old: { producer: ms.Producer } | { consumer: ms.Consumer }): Promise<boolean> {
    if ('producer' in old) {
      const { producer } = old;
      if (producer.closed) return false;
      await this.retire(participant, producer);
      producer.close();
      closeIfEmpty(participant, transportOf(producer));
      // The others' consumers of it go now (not when the worker's notice comes), and a plain
      // receive transport they leave empty with them: a plain client receives the new
      // producer on a new transport, so one whose peer starts over again and again does not
      // pile up transports towards its limit. WebRTC receive transports carry every consumer
      // of their client and stay.
      for (const other of this.participants.values()) {
        if (other === participant) continue;
        for (const consumer of [...other.consumers.values()]) {
          if (consumer.producerId !== producer.id) continue;
          consumer.close();
          const transportId = transportOf(consumer);
          if (transportId && other.transports.get(transportId)?.type === 'plain') closeIfEmpty(other, transportId);
        }
      }
      return true;
    }
    const { consumer } = old;
    if (consumer.closed) return false;
    participant.retired.consumers.push(
      summariseConsumerStats(consumer.id, consumer.producerId, consumer.kind, await withTimeout(consumer.getStats(), [])),
    );
    consumer.close();
    closeIfEmpty(participant, transportOf(consumer));
    return true;
  }

  private track<T>(
    map: Map<string, T>,
    id: string,
    value: T,
    owner: { closed: boolean; observer: { once(event: 'close', fn: () => void): unknown } },
    resource: 'transport' | 'producer' | 'consumer',
  ): void {
    // The room may have closed while mediasoup was creating the object: then it is already gone.
    if (owner.closed) throw new DomainError('NOT_FOUND', 'the call has no media any more');
    map.set(id, value);
    this.counter.opened(resource);
    owner.observer.once('close', () => {
      map.delete(id);
      this.counter.closed(resource);
    });
  }

  /** Runs a mediasoup request, turning its failures into protocol errors. */
  private async whileOpen<T>(request: () => Promise<T>): Promise<T> {
    if (this.closed) throw new DomainError('NOT_FOUND', 'the call has no media any more');
    try {
      return await request();
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (this.closed) throw new DomainError('NOT_FOUND', 'the call has no media any more');
      // mediasoup answers malformed parameters with TypeError (from its JS or its worker).
      if (err instanceof TypeError || (err as Error).name === 'UnsupportedError') {
        throw new DomainError('VALIDATION_FAILED', (err as Error).message.slice(0, 300));
      }
      throw err;
    }
  }

  private requireParticipant(userId: string): ParticipantMedia {
    const participant = this.participants.get(userId);
    if (!participant) throw new DomainError('FORBIDDEN', 'not a participant of this call');
    return participant;
  }

  /** Another participant's transport is answered like an unknown one. */
  private requireOwnTransport(userId: string, transportId: string): OwnedTransport {
    const owned = this.requireParticipant(userId).transports.get(transportId);
    if (!owned) throw DomainError.notFound('transport');
    return owned;
  }
}

/** Closes the participant's transport when no live producer or consumer is left on it. */
function closeIfEmpty(participant: ParticipantMedia, transportId: string | undefined): void {
  const owned = transportId ? participant.transports.get(transportId) : undefined;
  if (!owned) return;
  const inUse = [...participant.producers.values(), ...participant.consumers.values()].some(
    (x) => !x.closed && transportOf(x) === transportId,
  );
  if (!inUse) owned.transport.close();
}

/** The transport a producer or consumer was made on (kept in its appData). */
function transportOf(x: ms.Producer | ms.Consumer): string | undefined {
  return (x.appData as { transportId?: string }).transportId;
}

function missingFields(fields: string[], message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', message, {
    fields: fields.map((field) => ({ field, message: 'Required' })),
  });
}

function invalidField(field: string, message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', `${field}: ${message}`.slice(0, 300), {
    fields: [{ field, message: message.slice(0, 200) }],
  });
}

async function withTimeout<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), STATS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
