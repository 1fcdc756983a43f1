import { Device, types } from 'mediasoup-client';
import type { ConsumerInfoDto, TransportInfoDto } from '@app/contracts';
import type { SocialClient } from '../social-client';
import { consumerOptions, routerCapabilities, transportOptions } from './webrtc-json';

type Consumer = types.Consumer;
type Producer = types.Producer;
type Transport = types.Transport;

export interface WebRtcCallOptions {
  /**
   * What to send: every track of this stream is produced (microphone, camera).
   * Without it the call asks `getUserMedia(constraints)` and stops those
   * tracks on close(); a given stream is left running.
   */
  stream?: MediaStream;
  /** For getUserMedia when no stream is given (default `{ audio: true }`). */
  constraints?: MediaStreamConstraints;
  /** Negotiations tried after a `media:restart` before giving up (default 3). */
  restartAttempts?: number;
  /** Makes the mediasoup-client Device (default `new Device()`: the browser's own handler). */
  createDevice?: () => Device;
}

/** A track of the other participant, as it starts or stops arriving. */
export interface RemoteTrack {
  track: MediaStreamTrack;
  kind: 'audio' | 'video';
  producerId: string;
  consumerId: string;
}

export interface WebRtcCallEvents {
  /** A track of the other participant arrived (also added to `remoteStream`). */
  track: RemoteTrack;
  /** The other participant stopped sending it (or the room moved); removed from `remoteStream`. */
  'track-ended': RemoteTrack;
  /** The server moved the call's media (`media:restart`): set-up starts again on its own. */
  restart: { reason: string; restarts: number };
  /** Media flows in the current room (after the first set-up and after each restart). */
  ready: { restarts: number };
  /** A set-up after a restart failed for good, or a track could not be received. */
  error: { error: unknown };
  /** close() was called or the call ended. */
  closed: Record<string, never>;
}

const DEFAULT_RESTART_ATTEMPTS = 3;
const RESTART_BACKOFF_MS = 300;

/** A set-up overtaken by a newer restart (or by close()): dropped quietly. */
class Superseded extends Error {}

/**
 * What a Device of this page learnt last: the router's capabilities (as JSON
 * text) and the Device's own. Every router of the service is configured
 * alike, so later set-ups (a restart, the next call) send these with
 * `media:join` at once instead of asking `media:capabilities` first.
 */
let learnt: { router: string; device: types.RtpCapabilities } | undefined;

/**
 * The WebRTC media of one active call in a page, on mediasoup-client.
 *
 * `WebRtcCall.join(client, callId)` sets up both transports in one
 * `media:join` naming this page's Device capabilities (learnt from
 * `media:capabilities` the first time only), so the server
 * consumes the other participant's producers for us: those in the answer and,
 * later, `media:consumer-added`. DTLS is connected by mediasoup-client when
 * a transport first carries media (`media:connect-transport`); each local
 * track is produced (`media:produce`). Remote tracks are gathered in
 * `remoteStream` and announced as `track` events.
 *
 * On `media:restart` (the call's media moved to another room) it drops its
 * transports, keeps the local tracks and sets up again; when the call ends it
 * closes itself.
 */
export class WebRtcCall {
  /** Every track of the other participant currently received. */
  readonly remoteStream: MediaStream;
  /** `media:restart`s heard during this call. */
  restarts = 0;
  /** Successful `media:join`s of this call (1, plus one per restart). */
  joins = 0;
  /** `media:capabilities` asked by this call (only while the page has learnt none). */
  capabilityRequests = 0;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private readonly producers: Producer[] = [];
  private readonly consumers = new Map<string, { consumer: Consumer; remote: RemoteTrack }>();
  /** Producers being consumed right now: an answer and a push may name the same one. */
  private readonly consuming = new Set<string>();
  /** Consumers pushed before the receive transport of the current room existed. */
  private pending: ConsumerInfoDto[] = [];
  private generation = 0;
  private negotiation: Promise<void> = Promise.resolve();
  private closed = false;
  private started = false;
  private muted = false;
  private readonly offs: (() => void)[] = [];
  private readonly listeners = new Map<keyof WebRtcCallEvents, Set<(payload: never) => void>>();

  private constructor(
    private readonly client: SocialClient,
    readonly callId: string,
    private readonly local: MediaStream,
    private readonly ownsStream: boolean,
    private readonly options: WebRtcCallOptions,
  ) {
    this.remoteStream = new MediaStream();
    this.offs.push(
      client.on('media:consumer-added', (consumer) => {
        if (consumer.callId !== callId || this.closed) return;
        if (!this.recvTransport || !this.sendTransport) this.pending.push(consumer);
        else void this.receive(consumer, this.generation).catch((error) => this.onReceiveError(error));
      }),
      client.on('media:producer-closed', ({ callId: id, producerId }) => {
        if (id === callId) this.dropConsumer(producerId);
      }),
      client.on('media:restart', ({ callId: id, reason }) => {
        if (id === callId && !this.closed) this.restart(reason);
      }),
      client.on('call:state', ({ call }) => {
        if (call.id === callId && call.state === 'ended') this.close();
      }),
    );
  }

  /** Joins the call's media (the call must be active, this user one of its participants): create() then start(). */
  static async join(client: SocialClient, callId: string, options: WebRtcCallOptions = {}): Promise<WebRtcCall> {
    const call = await WebRtcCall.create(client, callId, options);
    await call.start();
    return call;
  }

  /** The local media (getUserMedia unless a stream is given), not joined yet: add listeners, then start(). */
  static async create(client: SocialClient, callId: string, options: WebRtcCallOptions = {}): Promise<WebRtcCall> {
    const stream = options.stream ?? (await navigator.mediaDevices.getUserMedia(options.constraints ?? { audio: true }));
    return new WebRtcCall(client, callId, stream, options.stream === undefined, options);
  }

  /** Joins the call's media; a failure closes this call's media and rejects. Once only. */
  async start(): Promise<void> {
    if (this.started) throw new Error('WebRtcCall already started');
    this.started = true;
    try {
      this.negotiation = this.negotiate(this.generation);
      await this.negotiation;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** What this call sends (the given stream, or the one getUserMedia gave). */
  get localStream(): MediaStream {
    return this.local;
  }

  /** Resolves once media flows in the current room (now, or after the restart in progress). */
  get ready(): Promise<void> {
    return this.negotiation;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isMuted(): boolean {
    return this.muted;
  }

  /** Pauses or resumes the microphone's producer (nothing is sent while muted); kept across restarts. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    for (const producer of this.producers) {
      if (producer.kind !== 'audio') continue;
      if (muted) producer.pause();
      else producer.resume();
    }
  }

  /** The transports' WebRTC statistics (inbound-rtp on `recv`, outbound-rtp on `send`). */
  async stats(): Promise<{ send?: RTCStatsReport; recv?: RTCStatsReport }> {
    const [send, recv] = await Promise.all([this.sendTransport?.getStats(), this.recvTransport?.getStats()]);
    return { send, recv };
  }

  on<E extends keyof WebRtcCallEvents>(event: E, handler: (payload: WebRtcCallEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const listener = handler as (payload: never) => void;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Leaves the call's media (the call itself goes on: hang up with `client.calls.hangup`). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    for (const off of this.offs.splice(0)) off();
    this.dropTransports();
    if (this.ownsStream) for (const track of this.local.getTracks()) track.stop();
    this.emit('closed', {});
  }

  private emit<E extends keyof WebRtcCallEvents>(event: E, payload: WebRtcCallEvents[E]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (payload: WebRtcCallEvents[E]) => void)(payload);
      } catch {
        // A page's handler failing must not break the call's media.
      }
    }
  }

  private check(generation: number): void {
    if (this.closed || generation !== this.generation) throw new Superseded();
  }

  private async negotiate(generation: number): Promise<void> {
    // A Device knows its capabilities only once it has loaded a router's: the page's first set-up asks for them.
    let known = learnt;
    if (!known) {
      this.capabilityRequests++;
      const { rtpCapabilities } = await this.client.request('media:capabilities', { callId: this.callId });
      this.check(generation);
      known = await this.learn(rtpCapabilities, generation);
    }
    const answer = await this.client.request('media:join', {
      callId: this.callId,
      rtpCapabilities: known.device,
      send: { type: 'webrtc' },
      recv: { type: 'webrtc' },
    });
    this.check(generation);
    if (!answer.send || !answer.recv) throw new Error('media:join answered without transports');
    this.joins++;
    // A fresh Device for the room's router (after a restart it may be another one, configured alike).
    const device = await this.loadDevice(answer.rtpCapabilities, generation);
    this.recvTransport = this.openTransport(device, 'recv', answer.recv);
    this.sendTransport = this.openTransport(device, 'send', answer.send);
    for (const track of this.local.getTracks()) {
      if (track.kind === 'video' && !device.canProduce('video')) continue;
      // zeroRtpOnPause: muted sends nothing; stopTracks off: a restart produces the same tracks again.
      const producer = await this.sendTransport.produce({ track, zeroRtpOnPause: true, stopTracks: false });
      this.check(generation);
      if (producer.kind === 'audio' && this.muted) producer.pause();
      this.producers.push(producer);
    }
    for (const consumer of [...answer.consumers, ...this.pending.splice(0)]) await this.receive(consumer, generation);
    this.emit('ready', { restarts: this.restarts });
  }

  private async loadDevice(routerJson: Record<string, unknown>, generation: number): Promise<Device> {
    const device = this.options.createDevice?.() ?? new Device();
    await device.load({ routerRtpCapabilities: routerCapabilities(routerJson) });
    learnt = { router: JSON.stringify(routerJson), device: device.rtpCapabilities };
    this.check(generation);
    return device;
  }

  private async learn(routerJson: Record<string, unknown>, generation: number): Promise<{ router: string; device: types.RtpCapabilities }> {
    const device = await this.loadDevice(routerJson, generation);
    return { router: JSON.stringify(routerJson), device: device.rtpCapabilities };
  }

  private openTransport(device: Device, direction: 'send' | 'recv', info: TransportInfoDto): Transport {
    const options = transportOptions(info);
    const transport = direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.client.request('media:connect-transport', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
        this.client
          .request('media:produce', { transportId: transport.id, kind, rtpParameters })
          .then(({ producerId }) => callback({ id: producerId }), errback);
      });
    }
    return transport;
  }

  /** A consumer the server made for us (already resumed): its track joins remoteStream. */
  private async receive(info: ConsumerInfoDto, generation: number): Promise<void> {
    const transport = this.recvTransport;
    if (!transport || this.consumers.has(info.producerId) || this.consuming.has(info.producerId)) return;
    this.consuming.add(info.producerId);
    let consumer: Consumer;
    try {
      consumer = await transport.consume(consumerOptions(info));
    } finally {
      this.consuming.delete(info.producerId);
    }
    if (this.closed || generation !== this.generation || transport.closed || this.consumers.has(info.producerId)) {
      consumer.close();
      return;
    }
    const remote: RemoteTrack = { track: consumer.track, kind: consumer.kind, producerId: info.producerId, consumerId: consumer.id };
    this.consumers.set(info.producerId, { consumer, remote });
    this.remoteStream.addTrack(consumer.track);
    this.emit('track', remote);
  }

  private onReceiveError(error: unknown): void {
    if (!(error instanceof Superseded)) this.emit('error', { error });
  }

  private dropConsumer(producerId: string): void {
    const entry = this.consumers.get(producerId);
    if (!entry) return;
    this.consumers.delete(producerId);
    entry.consumer.close();
    this.remoteStream.removeTrack(entry.remote.track);
    this.emit('track-ended', entry.remote);
  }

  /** The room moved: everything of the old one is gone; set up again with the same local tracks. */
  private restart(reason: string): void {
    this.restarts++;
    const generation = ++this.generation;
    this.dropTransports();
    this.emit('restart', { reason, restarts: this.restarts });
    const attempts = this.options.restartAttempts ?? DEFAULT_RESTART_ATTEMPTS;
    this.negotiation = this.negotiation
      .catch(() => undefined)
      .then(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await this.negotiate(generation);
            return;
          } catch (error) {
            if (error instanceof Superseded || this.closed || generation !== this.generation) return;
            this.dropTransports();
            if (attempt >= attempts) {
              this.emit('error', { error });
              throw error;
            }
            await new Promise((resolve) => setTimeout(resolve, RESTART_BACKOFF_MS * attempt));
          }
        }
      });
    // A failure is reported through the `error` event; `ready` rejects for whoever awaits it.
    this.negotiation.catch(() => undefined);
  }

  /** Closes the transports (their producers and consumers close with them). */
  private dropTransports(): void {
    for (const producerId of [...this.consumers.keys()]) this.dropConsumer(producerId);
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = undefined;
    this.recvTransport = undefined;
    this.producers.length = 0;
    this.pending = [];
  }
}
