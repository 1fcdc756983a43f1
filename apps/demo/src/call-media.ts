import { Device, types } from 'mediasoup-client';
import type { CallDto, ConsumerInfoDto, MediaKind } from '@app/contracts';
import { ClientError, SocialClient } from '@app/client/browser';
import { consumerOptions, routerCapabilities, transportOptions } from './webrtc-json';

type Consumer = types.Consumer;
type Producer = types.Producer;
type Transport = types.Transport;

export interface CallMediaStats {
  /** Sum of inbound-rtp audio bytesReceived on the receiving transport. */
  audioBytesReceived: number;
  /** Sum of outbound-rtp audio bytesSent on the sending transport. */
  audioBytesSent: number;
  /** Sum of inbound-rtp video framesDecoded: pictures of the other participant this page decoded. */
  videoFramesDecoded: number;
  videoBytesReceived: number;
  /** Sum of outbound-rtp video framesEncoded: pictures of this page's camera sent. */
  videoFramesEncoded: number;
  /** The decoded picture's size, when video is arriving. */
  videoFrameWidth?: number;
  videoFrameHeight?: number;
  /** How this call's media was set up: `join` (media:join) or `steps` (capabilities, transports, consume one by one). */
  setup: 'join' | 'steps';
}

/** Where the page shows the call. */
export interface CallMediaOutputs {
  audio: HTMLAudioElement;
  /** The other participant's camera. */
  remoteVideo: HTMLVideoElement;
  /** This page's own camera, small. */
  localVideo: HTMLVideoElement;
}

/** Tries of one negotiation after a restart (the room may still be moving). */
const NEGOTIATE_ATTEMPTS = 3;

/** A negotiation overtaken by a newer restart (or the call's end): dropped quietly. */
class Stale extends Error {}

/** What this page's Device learnt last: its capabilities, and the router capabilities (as JSON text) it loaded. */
let learnt: { router: string; device: types.RtpCapabilities } | undefined;

/**
 * The WebRTC side of one active call in the browser: a mediasoup-client
 * Device, a send transport producing the microphone (and camera for video
 * calls) and a receive transport with what the other participant produces.
 *
 * Set-up is `media:join`: the router's capabilities first (a Device needs
 * them), then one request for both transports with this Device's
 * capabilities, so the server consumes the other side's producers for us,
 * now (in the answer) and later (`media:consumer-added`), already resumed.
 * A server without `media:join` gets the step-by-step path
 * (`media:create-transport`, `media:consume`, `media:resume`).
 *
 * On `media:restart` (the server moved the call's media to a new room) it
 * drops its transports and sets up again with the same microphone and
 * camera, telling the page through `onNote`.
 */
export class CallMedia {
  private device?: Device;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private readonly producers: Producer[] = [];
  /** By producer id. */
  private readonly consumers = new Map<string, Consumer>();
  private readonly consuming = new Set<string>();
  /** Step-by-step: producers announced before the receive transport was ready. */
  private pendingProducers: string[] = [];
  /** Join: consumers pushed before the receive transport was ready. */
  private pendingConsumers: ConsumerInfoDto[] = [];
  private localStream?: MediaStream;
  private closed = false;
  private muted = false;
  private setup: 'join' | 'steps' = 'join';
  /** Bumped by every restart: a negotiation of an older generation stops at its next step. */
  private generation = 0;
  private negotiation: Promise<void> = Promise.resolve();
  /** media:restart events heard in this call. */
  restarts = 0;
  /** Set-ups of this call done with media:join (1, plus one per restart). */
  joins = 0;
  /** media:capabilities asked in this call (a page that has set up a call before asks none). */
  capabilityRequests = 0;
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly client: SocialClient,
    readonly call: CallDto,
    private readonly out: CallMediaOutputs,
    private readonly onNote: (text: string) => void = () => undefined,
  ) {
    this.offs.push(
      client.on('media:consumer-added', (consumer) => {
        if (consumer.callId === call.id && this.setup === 'join') void this.receiveOrQueue(consumer);
      }),
      client.on('media:producer-added', ({ callId, producerId }) => {
        if (callId === call.id && this.setup === 'steps') void this.consumeOrQueue(producerId);
      }),
      client.on('media:producer-closed', ({ callId, producerId }) => {
        if (callId !== call.id) return;
        const consumer = this.consumers.get(producerId);
        this.consumers.delete(producerId);
        consumer?.close();
        if (consumer?.kind === 'video') this.out.remoteVideo.hidden = true;
      }),
      client.on('media:restart', ({ callId, reason }) => {
        if (callId === call.id && !this.closed) this.restart(reason);
      }),
    );
  }

  async start(): Promise<void> {
    const wantsVideo = this.call.media === 'video';
    this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: wantsVideo });
    if (this.closed) return this.close();
    if (wantsVideo) {
      this.out.localVideo.srcObject = new MediaStream(this.localStream.getVideoTracks());
      this.out.localVideo.hidden = false;
      this.out.localVideo.play().catch(() => undefined);
    }
    const generation = this.generation;
    this.negotiation = this.negotiate(generation).catch((err) => {
      if (!(err instanceof Stale)) throw err;
    });
    await this.negotiation;
  }

  /** True once media flows in the latest room (after start or the latest restart). */
  get negotiated(): Promise<void> {
    return this.negotiation;
  }

  /**
   * The call's media moved: everything of the old room is gone with it.
   * Drop the transports (their producers and consumers go with them), keep
   * the microphone and camera, and set up again.
   */
  private restart(reason: string): void {
    this.restarts++;
    const generation = ++this.generation;
    this.onNote(`Call media moved (${reason}); reconnecting…`);
    this.dropTransports();
    this.negotiation = this.negotiation
      .catch(() => undefined)
      .then(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await this.negotiate(generation);
            this.onNote(`Call media back after restart ${this.restarts} (${reason})`);
            return;
          } catch (err) {
            if (err instanceof Stale || this.stale(generation)) return;
            this.dropTransports();
            if (attempt >= NEGOTIATE_ATTEMPTS) {
              this.onNote(`Call media could not reconnect: ${err instanceof Error ? err.message : String(err)}`);
              throw err;
            }
            await new Promise((r) => setTimeout(r, 300 * attempt));
          }
        }
      });
  }

  private stale(generation: number): boolean {
    return this.closed || generation !== this.generation;
  }

  /** Throws Stale when a newer restart (or the call's end) overtook this negotiation. */
  private check(generation: number): void {
    if (this.stale(generation)) throw new Stale();
  }

  private async negotiate(generation: number): Promise<void> {
    if (this.setup === 'join' && (await this.join(generation))) return;
    this.setup = 'steps';
    this.capabilityRequests++;
    const answer = await this.client.request('media:capabilities', { callId: this.call.id });
    this.check(generation);
    const device = await this.loadDevice(answer.rtpCapabilities, generation);
    await this.negotiateStepByStep(device, answer.producers, generation);
  }

  /** A fresh Device for the room's router (a new room may be a new router). */
  private async loadDevice(routerJson: Record<string, unknown>, generation: number): Promise<Device> {
    const device = new Device();
    await device.load({ routerRtpCapabilities: routerCapabilities(routerJson) });
    this.check(generation);
    this.device = device;
    learnt = { router: JSON.stringify(routerJson), device: device.rtpCapabilities };
    return device;
  }

  /**
   * Sets up with media:join; false when the server does not know it. The
   * server consumes for us only when the join names our capabilities, and a
   * Device has them only once it has loaded a router's: the page's first
   * set-up asks media:capabilities first; later ones (the next call, a
   * restart) send what was learnt and load the Device from the answer.
   */
  private async join(generation: number): Promise<boolean> {
    let known = learnt;
    let device: Device | undefined;
    if (!known) {
      this.capabilityRequests++;
      const { rtpCapabilities } = await this.client.request('media:capabilities', { callId: this.call.id });
      this.check(generation);
      device = await this.loadDevice(rtpCapabilities, generation);
      known = { router: JSON.stringify(rtpCapabilities), device: device.rtpCapabilities };
    }
    const answer = await this.client
      .request('media:join', {
        callId: this.call.id,
        rtpCapabilities: known.device,
        send: { type: 'webrtc' },
        recv: { type: 'webrtc' },
      })
      .catch((err: unknown) => {
        if (err instanceof ClientError && err.code === 'VALIDATION_FAILED' && err.details?.event === 'media:join') return undefined;
        throw err;
      });
    if (!answer) return false;
    this.check(generation);
    if (!answer.send || !answer.recv) throw new Error('media:join answered without transports');
    // Every router of the service is configured alike; a different one would show here.
    if (JSON.stringify(answer.rtpCapabilities) !== known.router) console.warn('the room\'s router has other capabilities than the last one');
    device ??= await this.loadDevice(answer.rtpCapabilities, generation);
    this.joins++;
    this.recvTransport = this.openTransport('recv', transportOptions(answer.recv));
    this.sendTransport = this.openTransport('send', transportOptions(answer.send));
    await this.produceTracks(device, generation);
    for (const consumer of [...answer.consumers, ...this.pendingConsumers.splice(0)]) {
      await this.receive(consumer);
      this.check(generation);
    }
    return true;
  }

  private async negotiateStepByStep(
    device: Device,
    producers: { producerId: string; userId: string }[],
    generation: number,
  ): Promise<void> {
    this.recvTransport = await this.createTransport('recv', generation);
    this.sendTransport = await this.createTransport('send', generation);
    await this.produceTracks(device, generation);
    // The other side's producers already in the room (no producer-added comes for them), and those announced meanwhile.
    const theirs = producers.filter((p) => p.userId !== this.client.id).map((p) => p.producerId);
    for (const producerId of new Set([...theirs, ...this.pendingProducers.splice(0)])) {
      await this.consume(producerId);
      this.check(generation);
    }
  }

  private async produceTracks(device: Device, generation: number): Promise<void> {
    const sendTransport = this.sendTransport!;
    for (const track of this.localStream?.getTracks() ?? []) {
      if (track.kind === 'video' && !device.canProduce('video')) continue;
      // zeroRtpOnPause: a muted microphone sends nothing at all, not encoded silence.
      // stopTracks off: a restart produces the same microphone again on the new transport.
      const producer = await sendTransport.produce({ track, zeroRtpOnPause: true, stopTracks: false });
      this.check(generation);
      if (track.kind === 'audio' && this.muted) producer.pause();
      this.producers.push(producer);
    }
  }

  get isMuted(): boolean {
    return this.muted;
  }

  /** Mutes or unmutes the microphone (kept across a late start). */
  setMuted(muted: boolean): void {
    this.muted = muted;
    for (const producer of this.producers) {
      if (producer.kind !== 'audio') continue;
      if (muted) producer.pause();
      else producer.resume();
    }
  }

  async stats(): Promise<CallMediaStats> {
    const result: CallMediaStats = {
      audioBytesReceived: 0,
      audioBytesSent: 0,
      videoFramesDecoded: 0,
      videoBytesReceived: 0,
      videoFramesEncoded: 0,
      setup: this.setup,
    };
    for (const report of await statsOf(this.recvTransport)) {
      if (report.type !== 'inbound-rtp') continue;
      if (report.kind === 'audio') result.audioBytesReceived += numberOf(report.bytesReceived);
      if (report.kind === 'video') {
        result.videoFramesDecoded += numberOf(report.framesDecoded);
        result.videoBytesReceived += numberOf(report.bytesReceived);
        if (typeof report.frameWidth === 'number') result.videoFrameWidth = report.frameWidth;
        if (typeof report.frameHeight === 'number') result.videoFrameHeight = report.frameHeight;
      }
    }
    for (const report of await statsOf(this.sendTransport)) {
      if (report.type !== 'outbound-rtp') continue;
      if (report.kind === 'audio') result.audioBytesSent += numberOf(report.bytesSent);
      if (report.kind === 'video') result.videoFramesEncoded += numberOf(report.framesEncoded);
    }
    return result;
  }

  /** Safe to call twice. */
  close(): void {
    if (this.closed && !this.localStream) return;
    this.closed = true;
    for (const off of this.offs.splice(0)) off();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = undefined;
    this.dropTransports();
    this.out.remoteVideo.hidden = true;
    this.out.localVideo.srcObject = null;
    this.out.localVideo.hidden = true;
  }

  /** Closes the transports; their producers and consumers close with them. */
  private dropTransports(): void {
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = undefined;
    this.recvTransport = undefined;
    this.producers.length = 0;
    this.consumers.clear();
    this.pendingProducers = [];
    this.pendingConsumers = [];
    this.out.audio.srcObject = null;
    this.out.remoteVideo.srcObject = null;
  }

  /** A transport of the server's answer, connected (DTLS) by the library when it first carries media. */
  private openTransport(direction: 'send' | 'recv', options: types.TransportOptions): Transport {
    const device = this.device!;
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

  private async createTransport(direction: 'send' | 'recv', generation: number): Promise<Transport> {
    const info = await this.client.request('media:create-transport', { callId: this.call.id, direction, type: 'webrtc' });
    this.check(generation);
    return this.openTransport(direction, transportOptions(info));
  }

  // ---- join: consumers the server made for us ---------------------------------

  private async receiveOrQueue(consumer: ConsumerInfoDto): Promise<void> {
    if (!this.recvTransport || !this.sendTransport) {
      this.pendingConsumers.push(consumer);
      return;
    }
    await this.receive(consumer).catch((err) => console.error('receiving a consumer failed', err));
  }

  /** A consumer the server created (already resumed): its track goes to the page. */
  private async receive(info: ConsumerInfoDto): Promise<void> {
    const recvTransport = this.recvTransport!;
    const key = `${recvTransport.id}/${info.producerId}`;
    if (this.closed || this.consumers.has(info.producerId) || this.consuming.has(key)) return;
    this.consuming.add(key);
    try {
      const consumer = await recvTransport.consume(consumerOptions(info));
      if (recvTransport !== this.recvTransport || recvTransport.closed) return;
      this.show(info.producerId, consumer);
    } finally {
      this.consuming.delete(key);
    }
  }

  // ---- step by step: consume what is announced ---------------------------------

  private async consumeOrQueue(producerId: string): Promise<void> {
    if (!this.recvTransport || !this.sendTransport) {
      this.pendingProducers.push(producerId);
      return;
    }
    await this.consume(producerId).catch((err) => console.error('consume failed', err));
  }

  private async consume(producerId: string): Promise<void> {
    const recvTransport = this.recvTransport!;
    // An announcement and the negotiation may name the same producer: consume it once per transport.
    const key = `${recvTransport.id}/${producerId}`;
    if (this.closed || this.consumers.has(producerId) || this.consuming.has(key)) return;
    this.consuming.add(key);
    try {
      const answer = await this.client.request('media:consume', {
        transportId: recvTransport.id,
        producerId,
        rtpCapabilities: this.device!.rtpCapabilities,
      });
      // The transport was dropped meanwhile (a restart): this consumer belongs to the old room.
      if (recvTransport !== this.recvTransport || recvTransport.closed) return;
      const consumer = await recvTransport.consume(consumerOptions(answer));
      this.show(producerId, consumer);
      // The server creates consumers paused so no packet is lost before we are ready.
      await this.client.request('media:resume', { consumerId: answer.consumerId });
    } finally {
      this.consuming.delete(key);
    }
  }

  private show(producerId: string, consumer: Consumer): void {
    this.consumers.set(producerId, consumer);
    const element = this.outputFor(consumer.kind);
    element.srcObject = new MediaStream([consumer.track]);
    if (consumer.kind === 'video') this.out.remoteVideo.hidden = false;
    element.play().catch(() => undefined);
  }

  private outputFor(kind: MediaKind): HTMLMediaElement {
    return kind === 'audio' ? this.out.audio : this.out.remoteVideo;
  }
}

/** A WebRTC statistics report: the fields read here, each of unknown type until checked. */
interface StatsReport {
  type: string;
  kind?: unknown;
  [field: string]: unknown;
}

async function statsOf(transport: Transport | undefined): Promise<StatsReport[]> {
  if (!transport || transport.closed) return [];
  const reports: StatsReport[] = [];
  (await transport.getStats()).forEach((report: StatsReport) => reports.push(report));
  return reports;
}

function numberOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
