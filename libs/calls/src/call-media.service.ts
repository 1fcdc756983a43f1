import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import {
  ConsumerInfoDto,
  DomainError,
  MediaJoinResultDto,
  MediaKind,
  MediaRestartReason,
  MediaStatsDto,
  ProducerSummaryDto,
  schemas,
  TransportInfoDto,
} from '@app/contracts';
import { FlagsService, VIDEO_CALL_FLAG } from '@app/flags';
import {
  ConnectTransportParams,
  CreateTransportOptions,
  JoinRequest,
  JoinResult,
  MediaCluster,
  MediaNodeApi,
  MediaNodeMethod,
  MediaNodeUnreachable,
  PlainRtpPolicy,
  TransportKind,
} from '@app/media-routing';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RealtimeService } from '@app/realtime';
import type { z } from 'zod';
import { ActiveCallCache } from './active-call-cache';
import { ANNOUNCED_PRODUCERS, AnnouncedProducerStore } from './announced-producers';
import { CallMetrics } from './call-metrics';
import { CallRecord, isParticipant, otherParticipant } from './call-record';
import { CallRepository } from './call.repository';

export type { MediaRestartReason };

/** What a participant asks of `media:join` (and `call:accept`'s `join`), defaults applied. */
export type MediaJoinOptions = z.output<typeof schemas.mediaJoinOptions>;

/** Transport kinds remembered at most (oldest dropped first; a miss asks the node). */
const MAX_TRANSPORT_KINDS = 50_000;
/** Calls whose set-up time this process knows is stored (oldest dropped first; a miss costs one update). */
const MAX_SETUP_RECORDED = 20_000;

/**
 * The calls side of media: who may use a call's room and what they may do
 * in it (participants of an active call; video only while the flag is on
 * for both), where the room lives (placed on a media node when the call is
 * answered, recorded with the call), and routing each participant request
 * to that node from whichever process the participant is connected to. A
 * room whose node is gone is opened again on a live node and both
 * participants are told to negotiate again (`media:restart`).
 *
 * Media requests find their call in ActiveCallCache, not in the database;
 * the participant check runs on every request. When the node answers
 * NOT_FOUND for a remembered call, the call is read again once: it may
 * have ended or moved on another process a moment ago.
 */
@Injectable()
export class CallMediaService implements OnModuleInit {
  private readonly plainRtp: PlainRtpPolicy;
  private readonly logger: Logger;
  private readonly restarts;
  private readonly recovering = new Map<string, Promise<CallRecord>>();
  // Kinds of the transports created through this process: connecting one then needs no
  // request to the node just to learn its kind. A kind never changes; ownership is the node's to check.
  private readonly transportKinds = new Map<string, TransportKind>();
  /** Calls whose media set-up time is stored: their later producers need not look again. */
  private readonly setupRecorded = new Set<string>();

  constructor(
    private readonly calls: CallRepository,
    private readonly cache: ActiveCallCache,
    private readonly cluster: MediaCluster,
    private readonly flags: FlagsService,
    private readonly realtime: RealtimeService,
    private readonly callMetrics: CallMetrics,
    private readonly clock: Clock,
    // The producer last announced per call and `userId:kind`, through any process. After a room
    // moved, the old room (and what the node knew of its producers) is gone: a new producer of
    // that kind then replaces the one announced before, and the other participant hears it closed.
    @Inject(ANNOUNCED_PRODUCERS) private readonly announced: AnnouncedProducerStore,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
  ) {
    this.logger = rootLogger.child({ component: 'call-media' });
    this.plainRtp = new PlainRtpPolicy(config.media.plainRtp, config.media.plainRtpAllowedCidrs);
    this.restarts = metrics.counter('media_restarts_total', 'call media rooms opened again elsewhere, by reason', ['reason']);
  }

  onModuleInit(): void {
    this.flags.onChange((key) => {
      if (key === VIDEO_CALL_FLAG) void this.recheckVideo();
    });
  }

  // ---- lifecycle, for the call state machine ----

  /** Where a call about to be answered gets its room. */
  placeRoom(): Promise<string> {
    return this.cluster.place();
  }

  /**
   * Opens the room of a call being answered on the node it was placed on.
   * Touches no call row (the caller may hold its lock): a node that is gone
   * fails with an error isNodeLoss() recognises, and the caller recovers.
   */
  async openRoom(call: CallRecord): Promise<void> {
    await this.cluster.node(call.mediaNodeId!).openRoom(call.id, call.media, [call.callerId, call.calleeId]);
  }

  /** The room's node did not answer: it is gone (recover() opens the room elsewhere). */
  isNodeLoss(err: unknown): boolean {
    return err instanceof MediaNodeUnreachable;
  }

  /** An answered call (committed) whose room is open: its media requests need no database read. */
  remember(call: CallRecord): void {
    this.cache.remember(call);
  }

  /**
   * The call as remembered active here (answered here, or read for a media
   * request), without a read; undefined when not remembered. Its state may
   * lag another process's end by a notification: act on it only through a
   * statement conditional on the state.
   */
  rememberedActive(callId: string): CallRecord | undefined {
    return this.cache.get(callId);
  }

  /**
   * Closes the call's room wherever it is; its statistics, or null when there
   * was no room to ask. `ended`: the call is over, and its node refuses an
   * opening of the room that reaches it later.
   */
  async closeRoom(call: CallRecord, ended = false): Promise<MediaStatsDto | null> {
    this.cache.forget(call.id);
    this.setupRecorded.delete(call.id);
    // Never rejects (a store failure is logged): runs alongside the node's answer.
    const forgotten = this.announced.forgetCall(call.id);
    try {
      if (!call.mediaNodeId) return null;
      return await this.cluster.node(call.mediaNodeId).closeRoom(call.id, ended);
    } catch (err) {
      if (err instanceof MediaNodeUnreachable) return null;
      throw err;
    } finally {
      await forgotten;
    }
  }

  // ---- participants' requests ----

  async capabilities(
    userId: string,
    callId: string,
  ): Promise<{ rtpCapabilities: Record<string, unknown>; producers: ProducerSummaryDto[] }> {
    return this.callMetrics.timeMediaRequest('media:capabilities', () =>
      this.withCall(this.activeCall(userId, callId), (call) =>
        this.onRoom(call, 'capabilities', (node) => node.capabilities(call.id, userId)),
      ),
    );
  }

  async createTransport(
    userId: string,
    callId: string,
    options: CreateTransportOptions,
    clientAddress?: string,
  ): Promise<TransportInfoDto> {
    return this.callMetrics.timeMediaRequest('media:create-transport', async () => {
      if (options.type === 'plain') this.plainRtp.requireEnabled();
      const request = { direction: options.direction, type: options.type, rtcpMux: options.rtcpMux, clientAddress };
      const info = await this.withCall(this.activeCall(userId, callId), (call) =>
        this.onRoom(call, 'createTransport', (node) => node.createTransport(call.id, userId, request)),
      );
      if (this.transportKinds.size >= MAX_TRANSPORT_KINDS) this.transportKinds.delete(this.transportKinds.keys().next().value!);
      this.transportKinds.set(
        info.transportId,
        options.type === 'webrtc' ? 'webrtc' : options.direction === 'send' ? 'plain-send' : 'plain-recv',
      );
      return info;
    });
  }

  /** `clientAddress`: where the user's socket comes from; a plain recv transport may only send there. */
  async connectTransport(userId: string, transportId: string, params: ConnectTransportParams, clientAddress?: string): Promise<void> {
    await this.callMetrics.timeMediaRequest('media:connect-transport', () =>
      this.withCall(this.usersActiveCall(userId, 'transport'), async (call) => {
        if (params.ip !== undefined) {
          const kind =
            this.transportKinds.get(transportId) ??
            (await this.onRoom(call, 'transportKind', (node) => node.transportKind(call.id, userId, transportId)));
          if (kind === 'plain-recv') this.plainRtp.requireAllowedTarget(params.ip, clientAddress);
        }
        await this.onRoom(call, 'connectTransport', (node) =>
          node.connectTransport(call.id, userId, transportId, { ...params, clientAddress }),
        );
      }),
    );
  }

  async produce(
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<{ producerId: string }> {
    return this.callMetrics.timeMediaRequest('media:produce', () =>
      this.withCall(this.usersActiveCall(userId, 'transport'), (call) => this.produceIn(call, userId, transportId, kind, rtpParameters)),
    );
  }

  private async produceIn(
    call: CallRecord,
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<{ producerId: string }> {
    if (kind === 'video') await this.requireVideoAllowed(call);
    const produced = await this.onRoom(call, 'produce', (node) => node.produce(call.id, userId, transportId, kind, rtpParameters));
    const { stillAllowed } = await this.announceProduced(call, userId, [produced], produced.replacedProducerIds ?? []);
    if (!stillAllowed) throw new DomainError('VIDEO_CALL_DISABLED', 'video calling is switched off');
    return { producerId: produced.producerId };
  }

  async consume(
    userId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Record<string, unknown>,
  ): Promise<ConsumerInfoDto> {
    return this.callMetrics.timeMediaRequest('media:consume', () =>
      this.withCall(this.usersActiveCall(userId, 'transport'), (call) =>
        this.onRoom(call, 'consume', (node) => node.consume(call.id, userId, transportId, producerId, rtpCapabilities)),
      ),
    );
  }

  async resume(userId: string, consumerId: string): Promise<void> {
    await this.callMetrics.timeMediaRequest('media:resume', () =>
      this.withCall(this.usersActiveCall(userId, 'consumer'), (call) =>
        this.onRoom(call, 'resume', (node) => node.resume(call.id, userId, consumerId)),
      ),
    );
  }

  /**
   * Checks what a join asks for that needs no call: plain RTP switched on,
   * addresses the transports may talk to, fields that fit the transport
   * types. Run before `call:accept` accepts, so a join that could never
   * work leaves the call ringing.
   */
  checkJoin(options: MediaJoinOptions, clientAddress?: string): JoinRequest {
    const { send, recv } = options;
    if (send?.type === 'plain' || recv?.type === 'plain') this.plainRtp.requireEnabled();
    if (send && send.type !== 'plain') {
      const named = (['produce', 'ip', 'port', 'rtcpPort'] as const).filter((f) => send[f] !== undefined);
      if (named.length > 0)
        throw joinFieldsRefused(
          named.map((f) => `send.${f}`),
          'only a plain send transport takes this in a join',
        );
    }
    if (recv && recv.type !== 'plain') {
      const named = (['ip', 'port', 'rtcpPort'] as const).filter((f) => recv[f] !== undefined);
      if (named.length > 0)
        throw joinFieldsRefused(
          named.map((f) => `recv.${f}`),
          'only a plain recv transport takes this',
        );
    }
    if (recv && (recv.ip === undefined) !== (recv.port === undefined)) {
      throw joinFieldsRefused(['recv.ip', 'recv.port'], 'give both, or neither');
    }
    if (recv?.rtcpPort !== undefined && recv.port === undefined) throw joinFieldsRefused(['recv.rtcpPort'], 'needs recv.ip and recv.port');
    // The same rule as media:connect-transport: a plain transport talks only to the client itself.
    if (recv?.ip !== undefined) this.plainRtp.requireAllowedTarget(recv.ip, clientAddress);
    if (send?.ip !== undefined) this.plainRtp.requireAllowedTarget(send.ip, clientAddress);
    return { clientAddress, rtpCapabilities: options.rtpCapabilities, send, recv };
  }

  /**
   * `media:join`: the participant's transports, producers and consumers in
   * one request to the room's node, which leaves nothing behind when a step
   * fails. What it produced is announced to the other participant as
   * `media:produce` would; consumers of producers made later reach the
   * participant as `media:consumer-added` pushes.
   */
  async join(userId: string, callId: string, options: MediaJoinOptions, clientAddress?: string): Promise<MediaJoinResultDto> {
    return this.callMetrics.timeMediaRequest('media:join', () =>
      this.callMetrics.timeStep('join', async () => {
        const request = this.checkJoin(options, clientAddress);
        return this.withCall(this.activeCall(userId, callId), (call) => this.joinIn(call, userId, request));
      }),
    );
  }

  private async joinIn(call: CallRecord, userId: string, request: JoinRequest): Promise<MediaJoinResultDto> {
    if (request.send?.produce?.some((p) => p.kind === 'video')) await this.requireVideoAllowed(call);
    const joined = await this.onRoom(call, 'join', (node) => node.join(call.id, userId, request));
    return this.completeJoin(call, userId, joined);
  }

  /**
   * The callee's join of `call:accept`, made on the room just opened for the
   * answer while the answer commits: the node's part only (no lookup, no
   * recovery, nothing announced). Once the answer committed, completeJoin()
   * announces what it produced; if the answer did not commit, the room is
   * closed with what the join made in it.
   */
  async joinOpenedRoom(call: CallRecord, userId: string, options: MediaJoinOptions, clientAddress?: string): Promise<JoinResult> {
    return this.callMetrics.timeMediaRequest('media:join', async () => {
      const request = this.checkJoin(options, clientAddress);
      if (request.send?.produce?.some((p) => p.kind === 'video')) await this.requireVideoAllowed(call);
      return this.cluster.node(call.mediaNodeId!).join(call.id, userId, request);
    });
  }

  /**
   * What a join produced is announced to the other participant; the answer
   * leaves out what only the server needs. The answer does not wait for the
   * announcement (its record in Redis, then the other participant's events):
   * nothing in it depends on them, and the record is written in the order
   * the requests came, so a later request of the same client (a join that
   * replaces, a hangup) still finds this one recorded before its own.
   */
  async completeJoin(call: CallRecord, userId: string, joined: JoinResult): Promise<MediaJoinResultDto> {
    const produced = (joined.send?.producers ?? []).map((p) => ({ ...p, userId }));
    const { replacedProducerIds = [], ...answer } = joined;
    void this.announceProduced(call, userId, produced, replacedProducerIds).catch((err: unknown) =>
      this.logger.warn({ err, callId: call.id, userId }, 'could not announce the producers of a join'),
    );
    return answer;
  }

  // ---- recovery ----

  /**
   * Opens the call's room on a live node other than the lost one, records
   * it, and tells both participants to negotiate again. Several processes
   * may try at once: the conditional move lets one win; the others return
   * the winner's record. Throws when no node can take the room.
   */
  async recover(call: CallRecord, reason: MediaRestartReason, options: { announce?: boolean } = {}): Promise<CallRecord> {
    const running = this.recovering.get(call.id);
    if (running) return running;
    const attempt = this.moveRoom(call, reason, options.announce ?? true).finally(() => this.recovering.delete(call.id));
    this.recovering.set(call.id, attempt);
    return attempt;
  }

  /** The room was opened again inside its node (its worker died): both participants negotiate again. */
  announceRestart(call: CallRecord, reason: MediaRestartReason): void {
    this.restarts.inc({ reason });
    const payload = { callId: call.id, reason };
    this.realtime.toUser(call.callerId, 'media:restart', payload);
    this.realtime.toUser(call.calleeId, 'media:restart', payload);
    this.logger.info({ callId: call.id, reason, nodeId: call.mediaNodeId }, 'call media restarted');
  }

  private async moveRoom(call: CallRecord, reason: MediaRestartReason, announce: boolean): Promise<CallRecord> {
    const from = call.mediaNodeId;
    const tried: string[] = from ? [from] : [];
    for (;;) {
      const to = await this.cluster.place(tried);
      const moved = await this.calls.moveMedia(call.id, from, to);
      if (!moved) {
        // Someone else moved it first (or the call ended): use what is stored now.
        const readAt = this.cache.mark();
        const now = await this.calls.findById(call.id);
        if (!now || now.state !== 'active') throw new DomainError('NOT_FOUND', 'the call has no media any more');
        this.cache.remember(now, readAt);
        return now;
      }
      try {
        await this.cluster.node(to).openRoom(call.id, call.media, [call.callerId, call.calleeId]);
      } catch (err) {
        if (!(err instanceof MediaNodeUnreachable)) throw err;
        // That node is gone too: try the next one, moving the record on from it.
        tried.push(to);
        call = moved;
        continue;
      }
      if (from && reason === 'drain') {
        // The old node is alive and waits for its rooms to go.
        void this.cluster
          .node(from)
          .closeRoom(call.id)
          .catch(() => undefined);
      }
      this.cache.remember(moved);
      if (announce) this.announceRestart(moved, reason);
      return moved;
    }
  }

  // ---- internals ----

  /**
   * Tells the other participant about producers `userId` just made, and
   * about the ones they replaced (closed first, so a client never holds two
   * of a kind). A video producer made while the flag went off is closed at
   * once (`flag_off`) instead of announced: `stillAllowed` is then false.
   */
  private async announceProduced(
    call: CallRecord,
    userId: string,
    produced: { producerId: string; kind: MediaKind }[],
    replacedByNode: string[],
  ): Promise<{ stillAllowed: boolean }> {
    const other = otherParticipant(call, userId);
    // Whatever these producers replaced is gone: the other participant hears so before the new ones.
    const replaced = new Set(replacedByNode);
    // All recorded at once, so they reach Redis in this request's order, before anything the client sends next.
    const swaps = await Promise.all(produced.map((p) => this.announced.swap(call.id, `${userId}:${p.kind}`, p.producerId)));
    produced.forEach((producer, i) => {
      const earlier = swaps[i].earlier;
      if (earlier !== undefined && earlier !== producer.producerId) replaced.add(earlier);
    });
    for (const producerId of replaced) {
      this.realtime.toUser(other, 'media:producer-closed', { callId: call.id, producerId, reason: 'replaced' });
    }
    let stillAllowed = true;
    if (produced.some((p) => p.kind === 'video') && !(await this.videoAllowed(call))) {
      // The flag went off while the producer was being made: the switch-off sweep may have missed it.
      await this.closeVideo(call, 'flag_off');
      stillAllowed = false;
    }
    for (const producer of produced) {
      if (producer.kind === 'video' && !stillAllowed) continue;
      this.realtime.toUser(other, 'media:producer-added', {
        callId: call.id,
        producerId: producer.producerId,
        userId,
        kind: producer.kind,
      });
    }
    // Bookkeeping, not part of the answer: it runs beside it (at most one statement). The last
    // swap sent answers with every key the others recorded too.
    if (swaps.length > 0) void this.noteMediaSetup(call, userId, swaps[swaps.length - 1].keys);
    return { stillAllowed };
  }

  /**
   * The call's set-up time: from its answer until both participants had a
   * producer, stored the first time that is so (whichever process sees it).
   * Never fails, and is not awaited by, the request that produced.
   */
  private async noteMediaSetup(call: CallRecord, userId: string, keys: string[]): Promise<void> {
    if (!call.answeredAt || this.setupRecorded.has(call.id)) return;
    try {
      const other = otherParticipant(call, userId);
      if (!keys.some((key) => key.startsWith(`${other}:`))) return;
      const setupMs = Math.max(0, Math.round(this.clock.now().getTime() - call.answeredAt.getTime()));
      if (await this.calls.recordMediaSetup(call.id, setupMs)) this.callMetrics.mediaSetupMs(setupMs);
      if (this.setupRecorded.size >= MAX_SETUP_RECORDED) this.setupRecorded.delete(this.setupRecorded.values().next().value!);
      this.setupRecorded.add(call.id);
    } catch (err) {
      this.logger.warn({ err, callId: call.id }, 'could not store the call’s media set-up time');
    }
  }

  /**
   * Runs a room request on the call's node. A node that is gone is replaced
   * (the room opened elsewhere, both told to restart) and the request is
   * answered with INVALID_STATE telling the client to start again: the
   * objects it named died with the old room. A room request for a call
   * whose room is missing on a live node (it restarted) gets the same.
   * Only `capabilities`, which names nothing of the old room, is answered
   * from the new one.
   */
  private async onRoom<T>(call: CallRecord, method: MediaNodeMethod, run: (node: MediaNodeApi) => Promise<T>): Promise<T> {
    if (!call.mediaNodeId || !(await this.cluster.isLive(call.mediaNodeId))) {
      call = await this.recover(call, 'node_lost');
      if (method !== 'capabilities') throw restartRequired();
    }
    try {
      return await run(this.cluster.node(call.mediaNodeId!));
    } catch (err) {
      if (!(err instanceof MediaNodeUnreachable)) throw err;
      if (await this.cluster.isLive(call.mediaNodeId!, true)) {
        throw new DomainError('INTERNAL', 'the media node did not answer in time; try again');
      }
      const moved = await this.recover(call, 'node_lost');
      if (method === 'capabilities') return run(this.cluster.node(moved.mediaNodeId!));
      throw restartRequired();
    }
  }

  /**
   * Runs a participant's request on the call `lookup` found. When the call
   * came from the cache and its node answers NOT_FOUND, the cached record
   * may be stale (ended or moved on another process a moment ago): the row
   * is read once, and the request runs again only if the room moved to
   * another node while the call stayed active.
   */
  private async withCall<T>(lookup: Promise<{ call: CallRecord; cached: boolean }>, run: (call: CallRecord) => Promise<T>): Promise<T> {
    const { call, cached } = await lookup;
    try {
      return await run(call);
    } catch (err) {
      if (!cached || !(err instanceof DomainError) || err.code !== 'NOT_FOUND') throw err;
      this.cache.forget(call.id);
      const readAt = this.cache.mark();
      const now = await this.calls.findById(call.id);
      if (!now || now.state !== 'active' || now.mediaNodeId === call.mediaNodeId) throw err;
      this.cache.remember(now, readAt);
      return run(now);
    }
  }

  /** The active call `callId` of the user: unknown → NOT_FOUND, not theirs → FORBIDDEN, not active → NOT_FOUND. */
  private async activeCall(userId: string, callId: string): Promise<{ call: CallRecord; cached: boolean }> {
    const cached = this.cache.get(callId);
    const readAt = this.cache.mark();
    const call = cached ?? (await this.calls.findById(callId));
    if (!call) throw DomainError.notFound('call');
    // Participants never change: checked on every request, cached or not.
    if (!isParticipant(call, userId)) throw new DomainError('FORBIDDEN', 'not a participant of this call');
    if (call.state !== 'active') throw new DomainError('NOT_FOUND', 'no active call with this id has media');
    if (!cached) this.cache.remember(call, readAt);
    return { call, cached: cached !== undefined };
  }

  /** Transport, producer and consumer ids belong to the user's one active call. */
  private async usersActiveCall(userId: string, what: string): Promise<{ call: CallRecord; cached: boolean }> {
    const cached = this.cache.ofUser(userId);
    if (cached && isParticipant(cached, userId)) return { call: cached, cached: true };
    const readAt = this.cache.mark();
    const call = await this.calls.liveCallOf(userId);
    if (!call || call.state !== 'active') throw DomainError.notFound(what);
    this.cache.remember(call, readAt);
    return { call, cached: false };
  }

  /** `asExposure`: the answer decides a participant's request (recorded for the experiment), not a sweep. */
  private videoAllowed(call: CallRecord, asExposure = false): Promise<boolean> {
    if (call.media !== 'video') return Promise.resolve(false);
    return this.flags.isEnabledForAll(VIDEO_CALL_FLAG, [call.callerId, call.calleeId], asExposure ? 'media:produce' : undefined);
  }

  private async requireVideoAllowed(call: CallRecord): Promise<void> {
    if (call.media !== 'video') throw new DomainError('VIDEO_CALL_DISABLED', 'this is an audio call');
    if (!(await this.videoAllowed(call, true))) {
      throw new DomainError('VIDEO_CALL_DISABLED', 'video calling is off for one of the participants');
    }
  }

  private async closeVideo(call: CallRecord, reason: string): Promise<void> {
    if (!call.mediaNodeId) return;
    const closed = await this.cluster.node(call.mediaNodeId).closeVideoProducers(call.id);
    for (const producer of closed) {
      // Already told closed: a later video producer does not announce it again.
      await this.announced.forgetIf(call.id, `${producer.userId}:video`, producer.producerId);
      for (const userId of [call.callerId, call.calleeId]) {
        this.realtime.toUser(userId, 'media:producer-closed', { callId: call.id, producerId: producer.producerId, reason });
      }
    }
    if (closed.length > 0) this.logger.info({ callId: call.id, closed: closed.length, reason }, 'video producers closed');
  }

  /** A flag change may switch video off for live calls: their video stops, their audio goes on. */
  private async recheckVideo(): Promise<void> {
    let afterId: string | null = null;
    for (;;) {
      const page: CallRecord[] = await this.calls.activeVideoPage(afterId, 100).catch((err) => {
        this.logger.error({ err }, 'could not list video calls after a flag change');
        return [];
      });
      if (page.length === 0) return;
      for (const call of page) {
        try {
          if (!(await this.videoAllowed(call))) await this.closeVideo(call, 'flag_off');
        } catch (err) {
          this.logger.error({ err, callId: call.id }, 'could not re-check video after a flag change');
        }
      }
      afterId = page[page.length - 1].id;
    }
  }
}

function restartRequired(): DomainError {
  return new DomainError(
    'INVALID_STATE',
    'the call’s media moved; start again (media:join, or media:capabilities and the steps after it)',
    {
      restart: true,
    },
  );
}

function joinFieldsRefused(fields: string[], message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', `media:join: ${fields.join(', ')}: ${message}`, {
    fields: fields.map((field) => ({ field, message })),
  });
}
