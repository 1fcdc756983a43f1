import { Device, types } from 'mediasoup-client';
import type { CallDto, TransportInfoWebRtc } from '@app/contracts';
import type { SocialClient } from '@app/client/browser';

type Consumer = types.Consumer;
type Producer = types.Producer;
type RtpCapabilities = types.RtpCapabilities;
type RtpParameters = types.RtpParameters;
type Transport = types.Transport;

export interface CallMediaStats {
  /** Sum of inbound-rtp audio bytesReceived on the receiving transport. */
  audioBytesReceived: number;
  /** Sum of outbound-rtp audio bytesSent on the sending transport. */
  audioBytesSent: number;
}

/** Tries of one negotiation after a restart (the room may still be moving). */
const NEGOTIATE_ATTEMPTS = 3;

/** A negotiation overtaken by a newer restart (or the call's end): dropped quietly. */
class Stale extends Error {}

/**
 * The WebRTC side of one active call in the browser: a mediasoup-client
 * Device, a send transport producing the microphone (and camera for video
 * calls) and a receive transport consuming what the other participant
 * produces. Producers announced before the receive transport exists are
 * queued and consumed once it is ready. On `media:restart` (the server moved
 * the call's media to a new room) it drops its transports and negotiates
 * again with the same microphone, telling the page through `onNote`.
 */
export class CallMedia {
  private device?: Device;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private readonly producers: Producer[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private readonly consuming = new Set<string>();
  private pending: string[] = [];
  private localStream?: MediaStream;
  private closed = false;
  private muted = false;
  /** Bumped by every restart: a negotiation of an older generation stops at its next step. */
  private generation = 0;
  private negotiation: Promise<void> = Promise.resolve();
  /** media:restart events heard in this call. */
  restarts = 0;
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly client: SocialClient,
    readonly call: CallDto,
    private readonly audioOut: HTMLAudioElement,
    private readonly videoOut: HTMLVideoElement,
    private readonly onNote: (text: string) => void = () => undefined,
  ) {
    this.offs.push(
      client.on('media:producer-added', ({ callId, producerId }) => {
        if (callId === call.id) void this.consumeOrQueue(producerId);
      }),
      client.on('media:producer-closed', ({ callId, producerId }) => {
        if (callId !== call.id) return;
        this.consumers.get(producerId)?.close();
        this.consumers.delete(producerId);
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
   * the microphone, and negotiate again from media:capabilities.
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
              this.onNote(`Call media could not reconnect: ${(err as Error).message}`);
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
    const callId = this.call.id;
    const answer = (await this.client.request('media:capabilities', { callId })) as {
      rtpCapabilities: unknown;
      producers?: { producerId: string; userId: string }[];
    };
    this.check(generation);
    // A new room may be a new router: a fresh Device learns its capabilities.
    const device = new Device();
    await device.load({ routerRtpCapabilities: answer.rtpCapabilities as RtpCapabilities });
    this.check(generation);
    this.device = device;

    this.recvTransport = await this.createTransport('recv', generation);
    this.sendTransport = await this.createTransport('send', generation);
    const sendTransport = this.sendTransport;
    sendTransport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      this.client
        .request('media:produce', {
          transportId: sendTransport.id,
          kind,
          rtpParameters: rtpParameters as unknown as Record<string, unknown>,
        })
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });

    for (const track of this.localStream?.getTracks() ?? []) {
      if (track.kind === 'video' && !device.canProduce('video')) continue;
      // zeroRtpOnPause: a muted microphone sends nothing at all, not encoded silence.
      // stopTracks off: a restart produces the same microphone again on the new transport.
      const producer = await sendTransport.produce({ track, zeroRtpOnPause: true, stopTracks: false });
      this.check(generation);
      if (track.kind === 'audio' && this.muted) producer.pause();
      this.producers.push(producer);
    }
    // The other side's producers already in the room (no producer-added comes for them), and those announced meanwhile.
    const theirs = (answer.producers ?? []).filter((p) => p.userId !== this.client.id).map((p) => p.producerId);
    for (const producerId of new Set([...theirs, ...this.pending.splice(0)])) {
      await this.consume(producerId);
      this.check(generation);
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
    const result: CallMediaStats = { audioBytesReceived: 0, audioBytesSent: 0 };
    if (this.recvTransport) {
      (await this.recvTransport.getStats()).forEach((s: RTCStats & Record<string, any>) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') result.audioBytesReceived += s.bytesReceived ?? 0;
      });
    }
    if (this.sendTransport) {
      (await this.sendTransport.getStats()).forEach((s: RTCStats & Record<string, any>) => {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') result.audioBytesSent += s.bytesSent ?? 0;
      });
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
    this.videoOut.hidden = true;
  }

  /** Closes the transports; their producers and consumers close with them. */
  private dropTransports(): void {
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = undefined;
    this.recvTransport = undefined;
    this.producers.length = 0;
    this.consumers.clear();
    this.pending = [];
    this.audioOut.srcObject = null;
    this.videoOut.srcObject = null;
  }

  private async createTransport(direction: 'send' | 'recv', generation: number): Promise<Transport> {
    const info = (await this.client.request('media:create-transport', {
      callId: this.call.id,
      direction,
      type: 'webrtc',
    })) as TransportInfoWebRtc;
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
    } as Parameters<Device['createSendTransport']>[0];
    this.check(generation);
    const transport =
      direction === 'send' ? this.device!.createSendTransport(options) : this.device!.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.client
        .request('media:connect-transport', {
          transportId: transport.id,
          dtlsParameters: dtlsParameters as unknown as Record<string, unknown>,
        })
        .then(() => callback(), errback);
    });
    return transport;
  }

  private async consumeOrQueue(producerId: string): Promise<void> {
    if (!this.recvTransport || !this.sendTransport) {
      this.pending.push(producerId);
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
        rtpCapabilities: this.device!.rtpCapabilities as unknown as Record<string, unknown>,
      });
      // The transport was dropped meanwhile (a restart): this consumer belongs to the old room.
      if (recvTransport !== this.recvTransport || recvTransport.closed) return;
      const consumer = await recvTransport.consume({
        id: answer.consumerId,
        producerId: answer.producerId,
        kind: answer.kind,
        rtpParameters: answer.rtpParameters as RtpParameters,
      });
      this.consumers.set(producerId, consumer);
      const out = consumer.kind === 'audio' ? this.audioOut : this.videoOut;
      out.srcObject = new MediaStream([consumer.track]);
      if (consumer.kind === 'video') this.videoOut.hidden = false;
      // The server creates consumers paused so no packet is lost before we are ready.
      await this.client.request('media:resume', { consumerId: answer.consumerId });
      out.play().catch(() => undefined);
    } finally {
      this.consuming.delete(key);
    }
  }
}
