import type { ConsumerAddedDto, MediaJoinResultDto, MediaRestartReason, schemas } from '@app/contracts';
import { sleep } from '../sleep';
import type { SocialClient } from '../social-client';
import { consumerRtp, MediaKind, PlainReceiveStream, PlainSendStream, PlainStreamOptions } from './plain-media-session';
import { plainRtpParameters, PLAIN_RTP_CAPABILITIES, randomSsrc } from './plain-rtp-parameters';
import { RtpAddress, rtpAddressFor } from './rtp-address';
import { RtpUdpSocket } from './rtp-udp-socket';

type MediaJoinOptions = schemas.MediaJoinOptions;

export type { MediaRestartReason };

export interface CallMediaOptions extends PlainStreamOptions {
  /** Send and receive video (the clip) besides audio. */
  video?: boolean;
  /**
   * `join` (default): one `media:join` (or the callee's `call:accept` with
   * `join`), the other side's producers arriving as consumers, now and as
   * `media:consumer-added`. `steps`: capabilities, create-transport,
   * produce, consume and resume one by one (audio only).
   */
  setup?: 'join' | 'steps';
}

/** Tries of one negotiation before giving up until the next restart (a room may be moving meanwhile). */
const NEGOTIATE_ATTEMPTS = 4;
const NEGOTIATE_BACKOFF_MS = 250;

/** A negotiation overtaken by a newer restart: dropped, the newer one runs. */
class Superseded extends Error {}

/** The sockets and producers of one join, made before asking so the server can be told their addresses. */
interface PreparedJoin {
  address: RtpAddress;
  sendSocket: RtpUdpSocket;
  recvSocket: RtpUdpSocket;
  ssrcs: Map<MediaKind, number>;
  options: MediaJoinOptions;
}

/**
 * One participant's media in a call over plain RTP, kept alive across
 * `media:restart`: it sends on its own streams, receives the other
 * participant's, and when the server moves the call's media to a new room it
 * drops them all and sets up again, on its own. `restarts` counts how often
 * that happened; the streams are always the current ones. Negotiations
 * never overlap: a restart heard during one makes it start over, and a
 * failed one is tried again a few times.
 *
 * With the default `join` set-up a send and a receive transport are made in
 * one request, the send one accepting RTP only from this client's own send
 * socket and the receive one connected at once; audio (and video) share
 * each socket, told apart by payload type and SSRC.
 */
export class PlainCallMedia {
  /** The audio streams (the names of the audio-only first version). */
  send?: PlainSendStream;
  receive?: PlainReceiveStream;
  videoSend?: PlainSendStream;
  videoReceive?: PlainReceiveStream;
  readonly restarts: MediaRestartReason[] = [];
  /** Why the latest negotiation gave up, if it did. */
  lastError?: Error;
  private closed = false;
  private generation = 0;
  private negotiating?: Promise<void>;
  private opening?: { producerId: string; done: Promise<void> };
  private sockets: RtpUdpSocket[] = [];
  private recvTransport?: { transportId: string; ip: string; port: number; socket: RtpUdpSocket };
  /** Consumers pushed before the join that made their transport answered. */
  private readonly earlyConsumers: ConsumerAddedDto[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private readonly readyWaiters: (() => void)[] = [];
  private readonly restartListeners: ((reason: MediaRestartReason) => void)[] = [];

  private constructor(
    private readonly client: SocialClient,
    readonly callId: string,
    private readonly options: CallMediaOptions,
  ) {}

  /** Starts sending and receiving in the active call `callId`. */
  static async start(client: SocialClient, callId: string, options: CallMediaOptions = {}): Promise<PlainCallMedia> {
    if (options.video && options.setup === 'steps') throw new RangeError('video needs the join set-up');
    const media = new PlainCallMedia(client, callId, options);
    media.listen();
    await media.negotiate();
    if (!media.send) {
      media.close();
      throw media.lastError ?? new Error('call media could not be negotiated');
    }
    return media;
  }

  /**
   * The callee's way in: answers the ringing call `callId` and joins its
   * media in the same request (`call:accept { callId, join }`).
   */
  static async accept(client: SocialClient, callId: string, options: CallMediaOptions = {}): Promise<PlainCallMedia> {
    const media = new PlainCallMedia(client, callId, { ...options, setup: 'join' });
    media.listen();
    const prepared = await media.prepareJoin();
    try {
      const { media: joined } = await client.calls.acceptWithJoin(callId, prepared.options);
      if (!joined) throw new Error('call:accept answered without media');
      media.applyJoin(prepared, joined);
    } catch (err) {
      media.close();
      if (!media.sockets.includes(prepared.sendSocket)) {
        prepared.sendSocket.close();
        prepared.recvSocket.close();
      }
      throw err;
    }
    media.notifyIfReady();
    return media;
  }

  private get kinds(): MediaKind[] {
    return this.options.video ? ['audio', 'video'] : ['audio'];
  }

  /** Whether every stream is open and no negotiation is running. */
  get isReady(): boolean {
    const video = !this.options.video || (this.videoSend !== undefined && this.videoReceive !== undefined);
    return this.send !== undefined && this.receive !== undefined && video && !this.negotiating;
  }

  /** Resolves when every stream is open (after start or the latest restart). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.readyWaiters.indexOf(waiter);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        reject(new Error(`call media not ready in time${this.lastError ? `: ${this.lastError.message}` : ''}`));
      }, timeoutMs);
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(waiter);
    });
  }

  /** Listener hears of each `media:restart` of this call, before the new negotiation starts. */
  onRestart(listener: (reason: MediaRestartReason) => void): () => void {
    this.restartListeners.push(listener);
    return () => {
      const i = this.restartListeners.indexOf(listener);
      if (i >= 0) this.restartListeners.splice(i, 1);
    };
  }

  close(): void {
    this.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    this.dropStreams();
  }

  private listen(): void {
    const { client, callId } = this;
    this.unsubscribe.push(
      client.on('media:restart', (e) => {
        if (e.callId !== callId || this.closed) return;
        this.restarts.push(e.reason);
        this.generation++;
        for (const listener of this.restartListeners) listener(e.reason);
        void this.negotiate();
      }),
      // Step by step: the other side's producer, whenever it (re)appears.
      client.on('media:producer-added', (e) => {
        if (this.joins || e.callId !== callId || e.userId === client.id || e.kind !== 'audio' || this.closed) return;
        void this.openReceive(e.producerId).catch(() => undefined);
      }),
      // Joined: the server consumed a new producer of the other side for us.
      client.on('media:consumer-added', (e) => {
        if (!this.joins || e.callId !== callId || this.closed) return;
        if (this.recvTransport) this.attachConsumer(e);
        else this.earlyConsumers.push(e);
      }),
    );
  }

  private get joins(): boolean {
    return (this.options.setup ?? 'join') === 'join';
  }

  private dropStreams(): void {
    for (const stream of [this.send, this.receive, this.videoSend, this.videoReceive]) stream?.close();
    this.send = this.receive = this.videoSend = this.videoReceive = undefined;
    for (const socket of this.sockets.splice(0)) socket.close();
    this.recvTransport = undefined;
  }

  /** Negotiates until one attempt finishes with no restart heard meanwhile (or it gives up). */
  private negotiate(): Promise<void> {
    // The running loop sees the new generation and starts over.
    if (this.negotiating) return this.negotiating;
    const loop = async () => {
      let failures = 0;
      while (!this.closed) {
        const generation = this.generation;
        try {
          if (this.joins) await this.joinOnce(generation);
          else await this.negotiateOnce(generation);
          if (generation === this.generation) {
            this.lastError = undefined;
            return;
          }
        } catch (err) {
          if (this.closed) return;
          if (generation !== this.generation) continue; // overtaken: start over at once
          this.lastError = err instanceof Error ? err : new Error(String(err));
          if (++failures >= NEGOTIATE_ATTEMPTS) return;
          await sleep(NEGOTIATE_BACKOFF_MS * failures);
        }
      }
    };
    const attempt = loop().finally(() => {
      this.negotiating = undefined;
      this.notifyIfReady();
    });
    this.negotiating = attempt;
    return attempt;
  }

  // ---- one media:join ----

  private async prepareJoin(): Promise<PreparedJoin> {
    const address = this.options.rtpAddress ?? (await rtpAddressFor(this.client.baseUrl));
    const sendSocket = await RtpUdpSocket.open(address.bindIp);
    const recvSocket = await RtpUdpSocket.open(address.bindIp).catch((err) => {
      sendSocket.close();
      throw err;
    });
    const ssrcs = new Map(this.kinds.map((kind) => [kind, randomSsrc()] as const));
    const options: MediaJoinOptions = {
      rtpCapabilities: PLAIN_RTP_CAPABILITIES,
      send: {
        type: 'plain',
        rtcpMux: true,
        // The only source the server will accept this participant's RTP from.
        ip: address.announcedIp,
        port: sendSocket.address.port,
        produce: this.kinds.map((kind) => ({ kind, rtpParameters: plainRtpParameters(kind, ssrcs.get(kind)!) })),
      },
      recv: { type: 'plain', rtcpMux: true, ip: address.announcedIp, port: recvSocket.address.port },
    };
    return { address, sendSocket, recvSocket, ssrcs, options };
  }

  private async joinOnce(generation: number): Promise<void> {
    this.dropStreams();
    this.earlyConsumers.length = 0;
    const prepared = await this.prepareJoin();
    try {
      const joined = await this.client.request('media:join', { callId: this.callId, ...prepared.options });
      if (this.closed || generation !== this.generation) throw new Superseded('a newer restart came');
      this.applyJoin(prepared, joined);
    } catch (err) {
      if (!this.sockets.includes(prepared.sendSocket)) {
        prepared.sendSocket.close();
        prepared.recvSocket.close();
      }
      throw err;
    }
  }

  private applyJoin(prepared: PreparedJoin, joined: MediaJoinResultDto): void {
    const { send, recv } = joined;
    if (!send || !('ip' in send) || !recv || !('ip' in recv)) throw new Error('media:join answered without plain transports');
    this.sockets.push(prepared.sendSocket, prepared.recvSocket);
    for (const { kind, producerId } of send.producers) {
      const ssrc = prepared.ssrcs.get(kind);
      if (ssrc === undefined) continue;
      const stream = new PlainSendStream(
        {
          callId: this.callId,
          kind,
          transportId: send.transportId,
          producerId,
          ssrc,
          payloadType: plainRtpParameters(kind, ssrc).codecs[0].payloadType,
          socket: prepared.sendSocket,
          remote: { ip: send.ip, port: send.port },
          ownsSocket: false,
        },
        this.options,
      );
      if (kind === 'audio') this.send = stream;
      else this.videoSend = stream;
    }
    this.recvTransport = { transportId: recv.transportId, ip: recv.ip, port: recv.port, socket: prepared.recvSocket };
    for (const consumer of joined.consumers) this.attachConsumer({ ...consumer, callId: this.callId });
    for (const consumer of this.earlyConsumers.splice(0)) this.attachConsumer(consumer);
    this.notifyIfReady();
  }

  /** A receive stream on the joined transport for one consumer (a newer one of a kind replaces the older). */
  private attachConsumer(consumer: ConsumerAddedDto): void {
    const transport = this.recvTransport;
    if (!transport) return;
    const current = consumer.kind === 'audio' ? this.receive : this.videoReceive;
    if (current?.consumerId === consumer.consumerId) return;
    const rtp = consumerRtp.safeParse(consumer.rtpParameters);
    if (!rtp.success) return;
    const stream = new PlainReceiveStream(
      {
        callId: this.callId,
        transportId: transport.transportId,
        consumerId: consumer.consumerId,
        producerId: consumer.producerId,
        kind: consumer.kind,
        payloadType: rtp.data.codecs[0].payloadType,
        ssrc: rtp.data.encodings?.[0]?.ssrc,
        socket: transport.socket,
        remote: { ip: transport.ip, port: transport.port },
        ownsSocket: false,
      },
      this.options,
    );
    current?.close();
    if (consumer.kind === 'audio') this.receive = stream;
    else this.videoReceive = stream;
    this.notifyIfReady();
  }

  // ---- step by step (audio) ----

  private async negotiateOnce(generation: number): Promise<void> {
    const current = () => {
      if (this.closed || generation !== this.generation) throw new Superseded('a newer restart came');
    };
    this.send?.close();
    this.send = undefined;
    const { producers } = await this.client.request('media:capabilities', { callId: this.callId });
    current();
    const theirs = producers.find((p) => p.userId !== this.client.id && p.kind === 'audio');
    // A receive stream of a producer the new room still has was opened in it already (the other side was quicker).
    if (this.receive && this.receive.producerId !== theirs?.producerId) {
      this.receive.close();
      this.receive = undefined;
    }
    const send = await PlainSendStream.open(this.client, this.callId, 'audio', this.options);
    if (this.closed || generation !== this.generation) {
      send.close();
      current();
    }
    this.send = send;
    // The other side may have produced already (then no producer-added comes for it).
    if (theirs) await this.openReceive(theirs.producerId);
  }

  /** One receive stream per producer at a time: an event and a negotiation naming it share the work. */
  private async openReceive(producerId: string): Promise<void> {
    if (this.receive?.producerId === producerId) return;
    if (this.opening?.producerId === producerId) return this.opening.done;
    const generation = this.generation;
    const done = (async () => {
      const stream = await PlainReceiveStream.open(this.client, this.callId, producerId, this.options).catch(() => undefined);
      if (!stream) return; // a producer of a room that moved meanwhile; the restart brings the new one
      // Closed, or the room moved while this opened: the new negotiation finds the producer to receive.
      if (this.closed || generation !== this.generation) return stream.close();
      this.receive?.close();
      this.receive = stream;
    })();
    this.opening = { producerId, done };
    try {
      await done;
    } finally {
      if (this.opening?.done === done) this.opening = undefined;
      this.notifyIfReady();
    }
  }

  private notifyIfReady(): void {
    if (!this.isReady) return;
    for (const waiter of this.readyWaiters.splice(0)) waiter();
  }
}
