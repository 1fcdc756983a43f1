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

/**
 * The WebRTC side of one active call in the browser: a mediasoup-client
 * Device, a send transport producing the microphone (and camera for video
 * calls) and a receive transport consuming what the other participant
 * produces. Producers announced before the receive transport exists are
 * queued and consumed once it is ready.
 */
export class CallMedia {
  private device?: Device;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private readonly producers: Producer[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private readonly pending: string[] = [];
  private localStream?: MediaStream;
  private closed = false;
  private muted = false;
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly client: SocialClient,
    readonly call: CallDto,
    private readonly audioOut: HTMLAudioElement,
    private readonly videoOut: HTMLVideoElement,
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
    );
  }

  async start(): Promise<void> {
    const callId = this.call.id;
    const { rtpCapabilities } = await this.client.request('media:capabilities', { callId });
    const device = new Device();
    await device.load({ routerRtpCapabilities: rtpCapabilities as RtpCapabilities });
    this.device = device;

    this.recvTransport = await this.createTransport('recv');
    this.sendTransport = await this.createTransport('send');
    this.sendTransport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      this.client
        .request('media:produce', {
          transportId: this.sendTransport!.id,
          kind,
          rtpParameters: rtpParameters as unknown as Record<string, unknown>,
        })
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });

    const wantsVideo = this.call.media === 'video';
    this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: wantsVideo });
    if (this.closed) return this.close();
    for (const track of this.localStream.getTracks()) {
      if (track.kind === 'video' && !device.canProduce('video')) continue;
      // zeroRtpOnPause: a muted microphone sends nothing at all, not encoded silence.
      const producer = await this.sendTransport.produce({ track, zeroRtpOnPause: true });
      if (track.kind === 'audio' && this.muted) producer.pause();
      this.producers.push(producer);
    }
    for (const producerId of this.pending.splice(0)) await this.consume(producerId);
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
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.audioOut.srcObject = null;
    this.videoOut.srcObject = null;
    this.videoOut.hidden = true;
  }

  private async createTransport(direction: 'send' | 'recv'): Promise<Transport> {
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
    if (this.closed || this.consumers.has(producerId)) return;
    const answer = await this.client.request('media:consume', {
      transportId: this.recvTransport!.id,
      producerId,
      rtpCapabilities: this.device!.rtpCapabilities as unknown as Record<string, unknown>,
    });
    const consumer = await this.recvTransport!.consume({
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
  }
}
