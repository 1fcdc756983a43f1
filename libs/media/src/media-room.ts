import type { types as ms } from 'mediasoup';
import type { Clock } from '@app/config';
import {
  CallMedia,
  CallQualityLegDto,
  ConsumerInfoDto,
  DomainError,
  MediaKind,
  MediaStatsDto,
  ProducerSummaryDto,
  TransportInfoDto,
  TransportType,
} from '@app/contracts';
import type {
  AutoConsumed,
  ConnectTransportParams,
  CreateTransportOptions,
  JoinRequest,
  JoinResult,
  PlainRtpAddressing,
  PlainRtpPolicy,
  ProduceResult,
  TransportDirection,
  TransportKind,
} from '@app/media-routing';
import { routerCodecsFor } from './media-codecs';
import { CallLegs, LegAccumulator, StreamStats, summariseConsumerStats, summariseProducerStats } from './media-stats';

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

export interface RoomLimits {
  transportsPerUser: number;
  producersPerKindPerUser: number;
  consumersPerUser: number;
  /** Transports and producers a participant may create per churn window (each replaces mediasoup objects). */
  createsPerWindow: number;
  churnWindowMs: number;
}

/**
 * A 1:1 call needs few objects; the caps stop a client from filling a
 * worker, and the churn cap from keeping one busy by replacing its objects
 * again and again (a full media set-up creates four).
 */
export const ROOM_LIMITS: RoomLimits = {
  transportsPerUser: 4,
  producersPerKindPerUser: 1,
  consumersPerUser: 8,
  createsPerWindow: 30,
  churnWindowMs: 10_000,
};

/** What a room tells its owner beside answering requests. */
export interface RoomListener {
  /** A producer consumed on its own for a participant who joined with rtpCapabilities. */
  consumerAdded(consumer: AutoConsumed): void;
  /** A plain send transport's first packets came from an address the participant may not send from: it was closed. */
  plainSourceRefused(callId: string, userId: string, remoteIp: string): void;
}

export interface MediaRoomOptions {
  listen: MediaListenAddress;
  counter: MediaResourceCounter;
  plainRtp: PlainRtpPolicy;
  listener: RoomListener;
  limits?: RoomLimits;
  /** The owner's clock: the room's opening time, sample intervals and churn windows are read from it. */
  clock: Clock;
}

interface DeclaredSource {
  ip: string;
  port?: number;
  rtcpPort?: number;
}

interface OwnedTransport {
  transport: ms.WebRtcTransport | ms.PlainTransport;
  type: TransportType;
  direction: TransportDirection;
  rtcpMux: boolean;
  connected: boolean;
  /** Plain send: the socket address of the participant when it was created. */
  clientAddress?: string;
  /** Plain send: where the participant said its RTP comes from. */
  declared?: DeclaredSource;
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
  /** When each of the latest creations happened (at most createsPerWindow kept). */
  readonly creations: number[] = [];
  /** Set by a join with rtpCapabilities and a recv transport: new producers of the other are consumed there. */
  autoConsume?: { transportId: string; rtpCapabilities: ms.RtpCapabilities };

  constructor(readonly userId: string) {}
}

/** What a join made so far, closed again if a later step fails. */
interface JoinUndo {
  transports: (ms.WebRtcTransport | ms.PlainTransport)[];
  producers: ms.Producer[];
  consumers: ms.Consumer[];
  /** Earlier consumers the join's consumers replace: closed only once the join succeeded. */
  replacedConsumers: ms.Consumer[];
  /** Worker requests the join awaits before it answers (a send transport's connect, sent ahead of its producers). */
  pending: Promise<unknown>[];
}

const STATS_TIMEOUT_MS = 2_000;

/**
 * The media of one active call: it owns the call's router and, per
 * participant, the transports, producers and consumers they created, and
 * the call's legs (what each participant sent and received, for its
 * statistics). A participant that joined with rtpCapabilities gets the
 * other's new producers consumed for it (`RoomListener.consumerAdded`).
 * close() is idempotent; closing the router closes everything below it.
 */
export class MediaRoom {
  private readonly participants: Map<string, ParticipantMedia>;
  private closedByUs = false;
  private readonly closingProducers = new Set<string>();
  readonly openedAt: Date;
  /** The call's legs for its statistics: at most one per participant, direction and kind. */
  private readonly legs = new CallLegs();
  private lastSampleAt: number;
  private readonly clock: Clock;
  private readonly listen: MediaListenAddress;
  private readonly counter: MediaResourceCounter;
  private readonly plainRtp: PlainRtpPolicy;
  private readonly listener: RoomListener;
  readonly limits: RoomLimits;

  private constructor(
    readonly callId: string,
    readonly media: CallMedia,
    readonly router: ms.Router,
    readonly workerPid: number,
    private readonly webRtcServer: ms.WebRtcServer,
    participantIds: [string, string],
    options: MediaRoomOptions,
  ) {
    this.participants = new Map(participantIds.map((id) => [id, new ParticipantMedia(id)]));
    this.clock = options.clock;
    this.openedAt = this.clock.now();
    this.lastSampleAt = this.openedAt.getTime();
    this.listen = options.listen;
    this.counter = options.counter;
    this.plainRtp = options.plainRtp;
    this.listener = options.listener;
    this.limits = options.limits ?? ROOM_LIMITS;
  }

  /** Opens the room on the worker given, on its router made ahead when one is given (made now otherwise). */
  static async open(
    { worker, webRtcServer, router: made }: { worker: ms.Worker; webRtcServer: ms.WebRtcServer; router?: ms.Router },
    callId: string,
    media: CallMedia,
    participantIds: [string, string],
    options: MediaRoomOptions,
  ): Promise<MediaRoom> {
    const router = made ?? (await worker.createRouter({ mediaCodecs: routerCodecsFor(media) }));
    router.appData = { callId };
    return new MediaRoom(callId, media, router, worker.pid, webRtcServer, participantIds, options);
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

  async createTransport(
    userId: string,
    options: CreateTransportOptions & PlainRtpAddressing & { source?: DeclaredSource },
    undo?: JoinUndo,
  ): Promise<TransportInfo> {
    const { direction, type, clientAddress, source } = options;
    const rtcpMux = type === 'webrtc' || options.rtcpMux !== false;
    const participant = this.requireParticipant(userId);
    if (type === 'plain') {
      // Checked here too, not only by the gateway: the node holds the sockets.
      this.plainRtp.requireEnabled();
      if (source) this.plainRtp.requireAllowedTarget(source.ip, clientAddress);
    }
    if (participant.transports.size + participant.reserved.transports >= this.limits.transportsPerUser) {
      throw new DomainError('INVALID_STATE', `at most ${this.limits.transportsPerUser} transports per participant`);
    }
    this.takeCreation(participant);
    participant.reserved.transports++;
    const appData = { callId: this.callId, userId, direction };
    const listenIp = { ip: this.listen.listenIp, announcedIp: this.listen.announcedIp };
    // A plain send transport whose source is declared takes RTP from that address only (no
    // comedia: mediasoup drops anything else). Without one it learns the source from the first
    // packet, and that source is checked when mediasoup reports it.
    const fixedSource = type === 'plain' && direction === 'send' && source?.port !== undefined;
    let transport: ms.WebRtcTransport | ms.PlainTransport;
    let owned: OwnedTransport;
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
          : this.router.createPlainTransport({ listenIp, rtcpMux, comedia: direction === 'send' && !fixedSource, appData }),
      );
      undo?.transports.push(transport);
      owned = {
        transport,
        type,
        direction,
        rtcpMux,
        connected: false,
        clientAddress,
        declared: type === 'plain' && direction === 'send' ? source : undefined,
      };
      this.track(participant.transports, transport.id, owned, transport, 'transport');
    } finally {
      participant.reserved.transports--;
    }
    if (type === 'plain' && direction === 'send') {
      const plain = transport as ms.PlainTransport;
      if (fixedSource) {
        owned.connected = true;
        const connecting = this.whileOpen(() =>
          plain.connect({ ip: source!.ip, port: source!.port, rtcpPort: rtcpMux ? undefined : source!.rtcpPort }),
        );
        // In a join the producers' requests follow it on the worker's channel at once (the worker
        // runs them in order); the join awaits it before answering, and undoes everything if it failed.
        if (undo) {
          connecting.catch(() => undefined);
          undo.pending.push(connecting);
        } else {
          await connecting;
        }
      } else {
        plain.on('tuple', (tuple) => this.checkLearntSource(participant, owned, tuple.remoteIp, tuple.remotePort, 'rtp'));
        plain.on('rtcptuple', (tuple) => this.checkLearntSource(participant, owned, tuple.remoteIp, tuple.remotePort, 'rtcp'));
      }
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

  async connectTransport(userId: string, transportId: string, params: ConnectTransportParams & PlainRtpAddressing): Promise<void> {
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
    if (owned.type === 'plain' && params.ip !== undefined) {
      // Where the SFU sends to (recv) or takes RTP from (send): the client's own address or an allowed block.
      this.plainRtp.requireAllowedTarget(params.ip, params.clientAddress ?? owned.clientAddress);
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
      } else if (params.ip !== undefined) {
        // A plain send transport was created learning its source (comedia), which mediasoup cannot
        // switch off afterwards: the declaration is what the learnt source must match, and a source
        // learnt already that does not match it closes the transport.
        owned.declared = { ip: params.ip, port: params.port, rtcpPort: params.rtcpPort };
        const learnt = (owned.transport as ms.PlainTransport).tuple;
        if (learnt.remoteIp !== undefined) {
          this.checkLearntSource(this.requireParticipant(userId), owned, learnt.remoteIp, learnt.remotePort, 'rtp');
          if (owned.transport.closed) throw new DomainError('FORBIDDEN', 'this transport took RTP from another address; create a new one');
        }
      }
    } catch (err) {
      owned.connected = false;
      throw err;
    }
  }

  async produce(userId: string, transportId: string, kind: MediaKind, rtpParameters: Record<string, unknown>): Promise<ProduceResult> {
    const participant = this.requireParticipant(userId);
    const { producer, replaces } = await this.createProducer(participant, transportId, kind, rtpParameters);
    try {
      const replacedProducerIds: string[] = [];
      for (const old of replaces) if (await this.supersede(participant, { producer: old })) replacedProducerIds.push(old.id);
      return { producerId: producer.id, userId, kind, replacedProducerIds };
    } finally {
      participant.reserved.producerKinds.delete(kind);
      this.autoConsumeFor(producer, participant);
    }
  }

  async consume(
    userId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Record<string, unknown>,
  ): Promise<ConsumerInfoDto> {
    const consumer = await this.createConsumer(userId, transportId, producerId, rtpCapabilities as unknown as ms.RtpCapabilities, true);
    return consumerInfo(consumer);
  }

  /**
   * `media:join`: capabilities, a send transport (with its plain producers),
   * a recv transport (connected at once when it names where to send), and
   * with rtpCapabilities a resumed consumer of every live producer of the
   * other participant those capabilities can receive. On a failure every
   * object this join made is closed again and the first error is thrown;
   * producers it replaces are closed only once it succeeded.
   */
  async join(userId: string, request: JoinRequest): Promise<JoinResult> {
    const participant = this.requireParticipant(userId);
    const undo: JoinUndo = { transports: [], producers: [], consumers: [], replacedConsumers: [], pending: [] };
    const reservedKinds: MediaKind[] = [];
    const replaces: ms.Producer[] = [];
    const { clientAddress } = request;
    const result: JoinResult = {
      rtpCapabilities: { ...this.router.rtpCapabilities },
      producers: this.producersVisibleTo(userId),
      consumers: [],
      replacedProducerIds: [],
    };
    const caps = request.rtpCapabilities as ms.RtpCapabilities | undefined;
    if (request.send?.produce?.length && request.send.type !== 'plain') {
      throw new DomainError(
        'VALIDATION_FAILED',
        'produce in a join is for plain transports; a webrtc transport produces after it is connected',
        {
          fields: [{ field: 'send.produce', message: 'plain transports only' }],
        },
      );
    }
    try {
      // The two sides need nothing of each other: their worker requests go out together (two
      // round trips to the worker instead of up to five), and what either made is undone below.
      const sending = request.send && this.joinSend(participant, request.send, clientAddress, undo, reservedKinds, replaces);
      const receiving = request.recv && this.joinRecv(participant, request.recv, caps, clientAddress, undo);
      await settleAll<unknown>([sending, receiving]);
      if (sending) result.send = await sending;
      if (receiving) {
        const received = await receiving;
        result.recv = received.transport;
        result.consumers.push(...received.consumers);
      }
    } catch (err) {
      for (const kind of reservedKinds) participant.reserved.producerKinds.delete(kind);
      for (const c of undo.consumers) c.close();
      for (const p of undo.producers) p.close();
      for (const t of undo.transports) t.close();
      throw err;
    }
    try {
      for (const old of replaces) if (await this.supersede(participant, { producer: old })) result.replacedProducerIds.push(old.id);
      for (const old of undo.replacedConsumers) await this.supersede(participant, { consumer: old });
    } finally {
      for (const kind of reservedKinds) participant.reserved.producerKinds.delete(kind);
    }
    if (caps && result.recv) {
      const previous = participant.autoConsume?.transportId;
      participant.autoConsume = { transportId: result.recv.transportId, rtpCapabilities: caps };
      // A participant joining again receives on the new transport: the one it joined on before goes once empty.
      if (previous !== undefined && previous !== result.recv.transportId) closeIfEmpty(participant, previous);
      // Producers of the other that appeared while this join ran are consumed now, as part of it
      // (best effort: the join itself has succeeded).
      let late: ms.Producer[] = [];
      try {
        late = this.consumableBy(participant, result.recv.transportId, caps);
      } catch {
        // Capabilities the worker cannot read: nothing more is consumed now or later.
      }
      for (const producer of late) {
        const consumer = await this.createConsumer(userId, result.recv.transportId, producer.id, caps, false).catch(() => undefined);
        if (consumer) result.consumers.push(consumerInfo(consumer));
      }
    }
    for (const producer of undo.producers) this.autoConsumeFor(producer, participant);
    return result;
  }

  /** A join's send side: its transport, then its producers (and the transport's connect) together. */
  private async joinSend(
    participant: ParticipantMedia,
    send: NonNullable<JoinRequest['send']>,
    clientAddress: string | undefined,
    undo: JoinUndo,
    reservedKinds: MediaKind[],
    replaces: ms.Producer[],
  ): Promise<NonNullable<JoinResult['send']>> {
    const { type, rtcpMux, ip, port, rtcpPort, produce = [] } = send;
    // A plain sender's source: what it declared, else its socket address (port learnt from its first packet).
    const sourceIp = ip ?? (type === 'plain' ? clientAddress : undefined);
    const source = sourceIp !== undefined ? { ip: sourceIp, port, rtcpPort } : undefined;
    const info = await this.createTransport(participant.userId, { direction: 'send', type, rtcpMux, clientAddress, source }, undo);
    const producers = await settleAll(
      produce.map(async (item) => {
        const made = await this.createProducer(participant, info.transportId, item.kind, item.rtpParameters, undo);
        reservedKinds.push(item.kind);
        replaces.push(...made.replaces);
        return { kind: item.kind, producerId: made.producer.id };
      }),
    );
    await settleAll(undo.pending);
    return { ...info, producers };
  }

  /** A join's receive side: its transport, then its connect and the consumers of the other's producers together. */
  private async joinRecv(
    participant: ParticipantMedia,
    recv: NonNullable<JoinRequest['recv']>,
    caps: ms.RtpCapabilities | undefined,
    clientAddress: string | undefined,
    undo: JoinUndo,
  ): Promise<{ transport: TransportInfo; consumers: ConsumerInfoDto[] }> {
    const { userId } = participant;
    const { type, rtcpMux, ip, port, rtcpPort } = recv;
    const info = await this.createTransport(userId, { direction: 'recv', type, rtcpMux, clientAddress }, undo);
    // Chosen before any request goes out: capabilities the worker cannot read fail the join here.
    const producers = caps ? this.consumableBy(participant, info.transportId, caps) : [];
    const connecting =
      type === 'plain' && (ip !== undefined || port !== undefined)
        ? this.connectTransport(userId, info.transportId, { ip, port, rtcpPort, clientAddress })
        : undefined;
    // The worker runs a channel's requests in order: the connect still comes before the consumers.
    const consuming = producers.map((producer) => this.createConsumer(userId, info.transportId, producer.id, caps!, false, undo));
    const [, ...consumers] = await settleAll<unknown>([connecting, ...consuming]);
    return { transport: info, consumers: (consumers as ms.Consumer[]).map(consumerInfo) };
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
        await this.refreshProducerStats(participant, producer);
        producer.close();
        closed.push({ producerId: producer.id, userId: participant.userId, kind: 'video' });
      } finally {
        this.closingProducers.delete(producer.id);
      }
    }
    return closed;
  }

  /**
   * Samples every producer and consumer: what each leg carried since the
   * last sample (bitrate, packets, loss, jitter, RTT, score). Also what the
   * call's statistics are made of.
   */
  async sample(): Promise<CallQualityLegDto[]> {
    const observed = new Map<LegAccumulator, { jitter?: number; score?: number; rttMs?: number }>();
    const observe = (leg: LegAccumulator, stats: StreamStats, withJitter: boolean) => {
      const o = observed.get(leg) ?? {};
      if (withJitter) o.jitter = Math.max(o.jitter ?? 0, stats.jitter);
      if (stats.score !== undefined) o.score = Math.min(o.score ?? 10, stats.score);
      if (stats.rttMs !== undefined) o.rttMs = Math.max(o.rttMs ?? 0, stats.rttMs);
      observed.set(leg, o);
    };
    const reads: Promise<void>[] = [];
    for (const participant of this.participants.values()) {
      for (const producer of participant.producers.values()) {
        reads.push(
          this.readProducer(participant, producer).then((stats) => {
            if (stats) observe(this.legs.leg(participant.userId, 'up', producer.kind as MediaKind), stats, true);
          }),
        );
      }
      for (const consumer of participant.consumers.values()) {
        reads.push(
          this.readConsumer(participant, consumer).then((stats) => {
            if (stats) observe(this.legs.leg(participant.userId, 'down', consumer.kind as MediaKind), stats, false);
          }),
        );
      }
    }
    await Promise.all(reads);
    const now = this.clock.now().getTime();
    const intervalMs = Math.max(0, now - this.lastSampleAt);
    this.lastSampleAt = now;
    this.legs.addSampledTime(intervalMs);
    const legs: CallQualityLegDto[] = [];
    for (const leg of this.legs.all()) {
      const sampled = leg.sample(intervalMs, observed.get(leg) ?? {});
      if (sampled) legs.push(sampled);
    }
    return legs;
  }

  /** The call's statistics, with a last sample taken now; null when it carried no media. */
  async collectStats(): Promise<MediaStatsDto | null> {
    await this.sample();
    return this.legs.summary();
  }

  /** Legs accumulated so far (bounded: one per participant, direction and kind). */
  legCount(): number {
    return this.legs.size;
  }

  /** Objects the room holds now, for leak checks. */
  objectCounts(): { transports: number; producers: number; consumers: number } {
    let transports = 0;
    let producers = 0;
    let consumers = 0;
    for (const p of this.participants.values()) {
      transports += p.transports.size;
      producers += p.producers.size;
      consumers += p.consumers.size;
    }
    return { transports, producers, consumers };
  }

  /** Idempotent: the router's close cascades to every transport, producer and consumer. */
  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.router.close();
  }

  // ---- internals ----

  /**
   * Checks and creates a producer; the caller releases the kind's reservation
   * (after superseding what it replaces). Not yet superseded: `replaces`.
   */
  private async createProducer(
    participant: ParticipantMedia,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
    undo?: JoinUndo,
  ): Promise<{ producer: ms.Producer; replaces: ms.Producer[] }> {
    const owned = this.requireOwnTransport(participant.userId, transportId);
    if (owned.direction !== 'send') throw new DomainError('INVALID_STATE', 'this transport was created to receive');
    if (kind === 'video' && this.media !== 'video') {
      throw new DomainError('VIDEO_CALL_DISABLED', 'this is an audio call');
    }
    requireCodecsOfKind(kind, rtpParameters);
    const sameKind = [...participant.producers.values()].filter((p) => p.kind === kind);
    // ROOM_LIMITS.producersPerKindPerUser is 1: a kind being produced right now counts as produced.
    // Producing it again on the same transport is refused; on a new send transport it is a client
    // that started over (restart, reconnect) and the new producer replaces the old one.
    if (participant.reserved.producerKinds.has(kind) || sameKind.some((p) => owned.transport.id === transportOf(p))) {
      throw new DomainError('INVALID_STATE', `already producing ${kind}`);
    }
    this.takeCreation(participant);
    participant.reserved.producerKinds.add(kind);
    try {
      const producer = await this.whileOpen(() =>
        owned.transport.produce({
          kind,
          rtpParameters: rtpParameters as unknown as ms.RtpParameters,
          appData: { callId: this.callId, userId: participant.userId, transportId: owned.transport.id },
        }),
      );
      undo?.producers.push(producer);
      this.track(participant.producers, producer.id, producer, producer, 'producer');
      this.foldOnClose(producer, this.legs.leg(participant.userId, 'up', kind));
      return { producer, replaces: sameKind };
    } catch (err) {
      participant.reserved.producerKinds.delete(kind);
      throw err;
    }
  }

  private async createConsumer(
    userId: string,
    transportId: string,
    producerId: string,
    caps: ms.RtpCapabilities,
    paused: boolean,
    undo?: JoinUndo,
  ): Promise<ms.Consumer> {
    const owned = this.requireOwnTransport(userId, transportId);
    if (owned.direction !== 'recv') throw new DomainError('INVALID_STATE', 'this transport was created to send');
    const participant = this.requireParticipant(userId);
    const other = this.participants.get(this.otherParticipant(userId));
    if (!other?.producers.has(producerId)) throw DomainError.notFound('producer');
    if (participant.consumers.size + participant.reserved.consumers >= this.limits.consumersPerUser) {
      throw new DomainError('INVALID_STATE', `at most ${this.limits.consumersPerUser} consumers per participant`);
    }
    if (!this.canConsume(producerId, caps)) throw invalidField('rtpCapabilities', 'these capabilities cannot receive that producer');
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
      // Step by step: paused until the client says it is ready (media:resume), so no first packets
      // are lost. Joined and auto-consumed: resumed at once, as the contract says.
      consumer = await this.whileOpen(() =>
        owned.transport.consume({ producerId, rtpCapabilities: caps, paused, appData: { userId, transportId: owned.transport.id } }),
      );
      undo?.consumers.push(consumer);
      this.track(participant.consumers, consumer.id, consumer, consumer, 'consumer');
      this.foldOnClose(consumer, this.legs.leg(userId, 'down', consumer.kind as MediaKind));
      if (undo) undo.replacedConsumers.push(...earlier);
      else for (const old of earlier) await this.supersede(participant, { consumer: old });
    } finally {
      participant.consumingProducerIds.delete(producerId);
      participant.reserved.consumers--;
    }
    return consumer;
  }

  /** Malformed capabilities are the client's error (VALIDATION_FAILED), not the worker's. */
  private canConsume(producerId: string, caps: ms.RtpCapabilities): boolean {
    try {
      return this.router.canConsume({ producerId, rtpCapabilities: caps });
    } catch (err) {
      throw invalidField('rtpCapabilities', (err as Error).message);
    }
  }

  /** The other participant's live producers that `caps` can receive and `participant` does not consume on `transportId` yet. */
  private consumableBy(participant: ParticipantMedia, transportId: string, caps: ms.RtpCapabilities): ms.Producer[] {
    const other = this.participants.get(this.otherParticipant(participant.userId))!;
    return [...other.producers.values()].filter(
      (p) =>
        !p.closed &&
        !participant.consumingProducerIds.has(p.id) &&
        ![...participant.consumers.values()].some((c) => c.producerId === p.id && transportOf(c) === transportId) &&
        this.canConsume(p.id, caps),
    );
  }

  /**
   * A new producer of `owner`: the other participant, if it joined with
   * rtpCapabilities, gets it consumed (resumed) on its recv transport, and
   * its gateways hear of it. Never fails the produce: a consumer that cannot
   * be made (limits, capabilities, the transport gone) is skipped.
   */
  private autoConsumeFor(producer: ms.Producer, owner: ParticipantMedia): void {
    if (producer.closed || this.closed) return;
    const other = this.participants.get(this.otherParticipant(owner.userId))!;
    const auto = other.autoConsume;
    if (!auto) return;
    if (!other.transports.has(auto.transportId)) {
      other.autoConsume = undefined;
      return;
    }
    void (async () => {
      try {
        if (!this.canConsume(producer.id, auto.rtpCapabilities)) return;
        const consumer = await this.createConsumer(other.userId, auto.transportId, producer.id, auto.rtpCapabilities, false);
        this.listener.consumerAdded({ callId: this.callId, userId: other.userId, ...consumerInfo(consumer) });
      } catch {
        // Already consumed, over a limit, or gone with the room: nothing to add.
      }
    })();
  }

  /** At most createsPerWindow transports and producers per participant in any churn window. */
  private takeCreation(participant: ParticipantMedia): void {
    const now = this.clock.now().getTime();
    const { createsPerWindow, churnWindowMs } = this.limits;
    while (participant.creations.length > 0 && participant.creations[0] <= now - churnWindowMs) participant.creations.shift();
    if (participant.creations.length >= createsPerWindow) {
      const retryAfterMs = Math.max(1, participant.creations[0] + churnWindowMs - now);
      throw new DomainError('RATE_LIMITED', 'too many transports and producers created in a short time', { retryAfterMs });
    }
    participant.creations.push(now);
  }

  /**
   * A plain send transport learnt where its RTP comes from. It must be what
   * the participant declared, or (nothing declared) the participant's own
   * address or an allowed block; otherwise someone else's packets got there
   * first, and the transport is closed (mediasoup cannot forget a learnt source).
   */
  private checkLearntSource(
    participant: ParticipantMedia,
    owned: OwnedTransport,
    remoteIp: string | undefined,
    remotePort: number | undefined,
    which: 'rtp' | 'rtcp',
  ): void {
    if (owned.transport.closed || remoteIp === undefined) return;
    const declared = owned.declared;
    let ok: boolean;
    if (declared) {
      const port = which === 'rtp' || owned.rtcpMux ? declared.port : declared.rtcpPort;
      ok = sameIp(remoteIp, declared.ip) && (port === undefined || port === remotePort);
    } else {
      ok = this.plainRtp.allows(remoteIp, owned.clientAddress);
    }
    if (ok) return;
    owned.transport.close();
    this.listener.plainSourceRefused(this.callId, participant.userId, remoteIp);
  }

  private async readProducer(participant: ParticipantMedia, producer: ms.Producer): Promise<StreamStats | undefined> {
    const raw = await withTimeout(producer.getStats(), null);
    // A stream closed meanwhile has been folded already; a failed read leaves the last counts.
    if (!raw || producer.closed) return undefined;
    const stats = summariseProducerStats(producer.id, producer.kind, raw);
    this.legs.leg(participant.userId, 'up', producer.kind as MediaKind).update(producer.id, stats);
    return stats;
  }

  private async readConsumer(participant: ParticipantMedia, consumer: ms.Consumer): Promise<StreamStats | undefined> {
    const raw = await withTimeout(consumer.getStats(), null);
    if (!raw || consumer.closed) return undefined;
    const stats = summariseConsumerStats(consumer.id, consumer.producerId, consumer.kind, raw);
    this.legs.leg(participant.userId, 'down', consumer.kind as MediaKind).update(consumer.id, stats);
    return stats;
  }

  /** Before this room closes a producer: its last counts, and those of the consumers of it, into their legs. */
  private async refreshProducerStats(participant: ParticipantMedia, producer: ms.Producer): Promise<void> {
    const reads: Promise<unknown>[] = [this.readProducer(participant, producer)];
    for (const other of this.participants.values()) {
      for (const consumer of other.consumers.values())
        if (consumer.producerId === producer.id) reads.push(this.readConsumer(other, consumer));
    }
    await Promise.all(reads);
  }

  /** A closed stream's last counts stay in its leg; the stream is forgotten. */
  private foldOnClose(stream: { id: string; observer: { once(event: 'close', fn: () => void): unknown } }, leg: LegAccumulator): void {
    stream.observer.once('close', () => leg.retire(stream.id));
  }

  /**
   * Closes a producer or consumer that a newer one of the same participant
   * replaced, its last counts kept in its leg, and its transport too when
   * nothing else lives on it: a client that starts over does not pile up
   * transports towards its limit.
   */
  private async supersede(participant: ParticipantMedia, old: { producer: ms.Producer } | { consumer: ms.Consumer }): Promise<boolean> {
    if ('producer' in old) {
      const { producer } = old;
      if (producer.closed) return false;
      await this.refreshProducerStats(participant, producer);
      producer.close();
      closeIfEmpty(participant, transportOf(producer));
      // The others' consumers of it go now (not when the worker's notice comes), and a plain
      // receive transport they leave empty with them: a plain client receives the new
      // producer on a new transport, so one whose peer starts over again and again does not
      // pile up transports towards its limit. WebRTC receive transports carry every consumer
      // of their client and stay, and so does the transport a participant joined to receive on
      // (the new producer is consumed there).
      for (const other of this.participants.values()) {
        if (other === participant) continue;
        for (const consumer of [...other.consumers.values()]) {
          if (consumer.producerId !== producer.id) continue;
          consumer.close();
          const transportId = transportOf(consumer);
          if (transportId && transportId !== other.autoConsume?.transportId && other.transports.get(transportId)?.type === 'plain') {
            closeIfEmpty(other, transportId);
          }
        }
      }
      return true;
    }
    const { consumer } = old;
    if (consumer.closed) return false;
    await this.readConsumer(participant, consumer);
    consumer.close();
    if (transportOf(consumer) !== participant.autoConsume?.transportId) closeIfEmpty(participant, transportOf(consumer));
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

function consumerInfo(consumer: ms.Consumer): ConsumerInfoDto {
  return {
    consumerId: consumer.id,
    producerId: consumer.producerId,
    kind: consumer.kind as MediaKind,
    rtpParameters: { ...consumer.rtpParameters },
  };
}

/** Every codec a producer declares must be of its kind: an "audio" producer carrying video is refused. */
function requireCodecsOfKind(kind: MediaKind, rtpParameters: Record<string, unknown>): void {
  const codecs = rtpParameters.codecs;
  if (!Array.isArray(codecs)) return; // mediasoup refuses the missing list itself
  for (const codec of codecs) {
    const mimeType = (codec as { mimeType?: unknown })?.mimeType;
    if (typeof mimeType === 'string' && mimeType.toLowerCase().startsWith(`${kind}/`)) continue;
    throw invalidField('rtpParameters.codecs', `a ${kind} producer's codecs must be ${kind}/*, not ${String(mimeType).slice(0, 40)}`);
  }
}

function sameIp(a: string, b: string): boolean {
  const strip = (ip: string) => (ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip).toLowerCase();
  return strip(a) === strip(b);
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

/**
 * Waits for all of them, then fails with the first failure in their order:
 * so nothing a join started is still running when it is undone.
 */
async function settleAll<T>(work: readonly (Promise<T> | T)[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
