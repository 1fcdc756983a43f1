import type { SocialClient } from '../social-client';
import { checkTone, EncodedTone, ToneCheck, ToneCheckOptions } from './encoded-tone';
import { FramePacer } from './frame-pacer';
import { decodeOpusStream, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES } from './opus-codec';
import { plainRtpParameters, PLAIN_RTP_CAPABILITIES, randomSsrc } from './plain-rtp-parameters';
import { RtpAddress, rtpAddressFor } from './rtp-address';
import { rtpHeader, RtpPacket } from './rtp-packet';
import { RtpUdpSocket } from './rtp-udp-socket';
import { dominantFrequency, FrequencyScan } from './tone';

type MediaKind = 'audio' | 'video';

export interface PlainStreamOptions {
  /**
   * Where the stream's socket binds and what it announces; by default every
   * interface, announcing the address this host reaches the gateway from.
   */
  rtpAddress?: RtpAddress;
}

/**
 * One outgoing stream over a plain RTP transport: creates the send
 * transport, produces, then sends RTP from its own UDP socket (the SFU
 * learns the socket's address from the first packet).
 */
export class PlainSendStream {
  private sequenceNumber = Math.floor(Math.random() * 0xffff);
  private timestamp = Math.floor(Math.random() * 0xffffffff);
  private sent = 0;

  private constructor(
    readonly callId: string,
    readonly kind: MediaKind,
    readonly transportId: string,
    readonly producerId: string,
    readonly ssrc: number,
    readonly payloadType: number,
    private readonly socket: RtpUdpSocket,
    private readonly remote: { ip: string; port: number },
  ) {}

  static async open(client: SocialClient, callId: string, kind: MediaKind = 'audio', options: PlainStreamOptions = {}): Promise<PlainSendStream> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = (await client.request('media:create-transport', { callId, direction: 'send', type: 'plain' })) as {
        transportId: string;
        ip: string;
        port: number;
      };
      const ssrc = randomSsrc();
      const rtpParameters = plainRtpParameters(kind, ssrc);
      const { producerId } = await client.request('media:produce', {
        transportId: transport.transportId,
        kind,
        rtpParameters,
      });
      const payloadType = (rtpParameters.codecs as { payloadType: number }[])[0].payloadType;
      return new PlainSendStream(callId, kind, transport.transportId, producerId, ssrc, payloadType, socket, transport);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  get packetsSent(): number {
    return this.sent;
  }

  /** Sends one RTP packet; `timestampStep` is how far the media clock moved since the last one. */
  async sendPayload(payload: Buffer, timestampStep: number, marker = false): Promise<void> {
    await this.socket.send(this.nextPacket(payload, timestampStep, marker), this.remote.ip, this.remote.port);
  }

  /**
   * A real Opus tone, one 20 ms frame per packet, paced in real time by the
   * process's shared pacer. The tone is encoded once per process and its
   * packets replayed (see EncodedTone). Returns packets sent.
   */
  sendTone(frequencyHz: number, durationMs: number, amplitude = 0.3): Promise<number> {
    if (this.kind !== 'audio') return Promise.reject(new Error('a tone goes on an audio stream'));
    const tone = EncodedTone.of(frequencyHz, amplitude);
    const frames = Math.round(durationMs / OPUS_FRAME_MS);
    return new Promise((resolve) => {
      FramePacer.shared.start({
        frames,
        frameMs: OPUS_FRAME_MS,
        sendFrame: (n) =>
          this.socket.sendAndForget(this.nextPacket(tone.packet(n), OPUS_FRAME_SAMPLES, n === 0), this.remote.ip, this.remote.port),
        finished: () => resolve(frames),
      });
    });
  }

  close(): void {
    this.socket.close();
  }

  private nextPacket(payload: Buffer, timestampStep: number, marker: boolean): Buffer[] {
    if (this.sent > 0) this.timestamp = (this.timestamp + timestampStep) >>> 0;
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.sent++;
    const header = rtpHeader({
      payloadType: this.payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      marker,
    });
    return [header, payload];
  }
}

/**
 * One incoming stream over a plain RTP transport: creates the recv
 * transport, tells the SFU where to send, consumes the producer, resumes it,
 * and keeps what arrives. Audio is decoded only when asked (`frames`,
 * `checkTone`), on the process's single decoder.
 */
export class PlainReceiveStream {
  readonly packets: RtpPacket[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  private decodedCache?: { packets: number; frames: (Int16Array | null)[] };

  private constructor(
    readonly callId: string,
    readonly transportId: string,
    readonly consumerId: string,
    readonly producerId: string,
    readonly kind: MediaKind,
    readonly payloadType: number,
    private readonly socket: RtpUdpSocket,
  ) {
    socket.onRtp((packet) => this.receive(packet));
  }

  static async open(client: SocialClient, callId: string, producerId: string, options: PlainStreamOptions = {}): Promise<PlainReceiveStream> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = await client.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
      await client.request('media:connect-transport', {
        transportId: transport.transportId,
        ip: address.announcedIp,
        port: socket.address.port,
      });
      const consumer = await client.request('media:consume', {
        transportId: transport.transportId,
        producerId,
        rtpCapabilities: PLAIN_RTP_CAPABILITIES,
      });
      const rtp = consumer.rtpParameters as { codecs: { payloadType: number }[] };
      const stream = new PlainReceiveStream(
        callId,
        transport.transportId,
        consumer.consumerId,
        producerId,
        consumer.kind,
        rtp.codecs[0].payloadType,
        socket,
      );
      // Consumers start paused; resuming after our socket listens means nothing is missed.
      await client.request('media:resume', { consumerId: consumer.consumerId });
      return stream;
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** Decoded 20 ms PCM frames of every packet so far, in arrival order (audio only; undecodable packets left out). */
  get frames(): Int16Array[] {
    return this.decoded().filter((f): f is Int16Array => f !== null);
  }

  /** Packets that did not decode as Opus (audio only). */
  get decodeErrors(): number {
    return this.decoded().filter((f) => f === null).length;
  }

  /** Resolves once `count` packets have arrived, or after `timeoutMs` (whatever came by then). */
  waitForPackets(count: number, timeoutMs: number): Promise<number> {
    if (this.packets.length >= count) return Promise.resolve(this.packets.length);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(this.packets.length);
      }, timeoutMs);
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.packets.length);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The dominant frequency of every decoded frame (null for silent frames). */
  frameFrequencies(scan?: FrequencyScan): (number | null)[] {
    return this.frames.map((frame) => dominantFrequency(frame, scan));
  }

  /** Whether this leg carried the tone the other side sent with `sendTone` (see `checkTone`). */
  checkTone(frequencyHz: number, expectedPackets: number, options?: ToneCheckOptions & { amplitude?: number }): ToneCheck {
    const tone = EncodedTone.of(frequencyHz, options?.amplitude);
    return checkTone(
      this.packets.map((p) => p.payload),
      tone,
      expectedPackets,
      options,
    );
  }

  close(): void {
    this.socket.close();
  }

  private decoded(): (Int16Array | null)[] {
    if (this.kind !== 'audio') return [];
    if (this.decodedCache?.packets !== this.packets.length) {
      this.decodedCache = { packets: this.packets.length, frames: decodeOpusStream(this.packets.map((p) => p.payload)) };
    }
    return this.decodedCache.frames;
  }

  private receive(packet: RtpPacket): void {
    if (packet.payloadType !== this.payloadType) return;
    this.packets.push(packet);
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      if (this.packets.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
