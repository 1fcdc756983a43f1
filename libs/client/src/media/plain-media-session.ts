import type { SocialClient } from '../social-client';
import { OPUS_FRAME_MS, OPUS_FRAME_SAMPLES, OpusFrameDecoder, OpusFrameEncoder } from './opus-codec';
import { plainRtpParameters, PLAIN_RTP_CAPABILITIES, randomSsrc } from './plain-rtp-parameters';
import { RtpPacket, serializeRtp } from './rtp-packet';
import { RtpUdpSocket } from './rtp-udp-socket';
import { dominantFrequency, FrequencyScan, ToneGenerator } from './tone';

type MediaKind = 'audio' | 'video';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

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

  static async open(client: SocialClient, callId: string, kind: MediaKind = 'audio'): Promise<PlainSendStream> {
    const socket = await RtpUdpSocket.open();
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
    if (this.sent > 0) this.timestamp = (this.timestamp + timestampStep) >>> 0;
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    const packet: RtpPacket = {
      payloadType: this.payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      marker,
      payload,
    };
    await this.socket.send(serializeRtp(packet), this.remote.ip, this.remote.port);
    this.sent++;
  }

  /** A real Opus tone, one 20 ms frame per packet, paced in real time. Returns packets sent. */
  async sendTone(frequencyHz: number, durationMs: number, amplitude = 0.3): Promise<number> {
    if (this.kind !== 'audio') throw new Error('a tone goes on an audio stream');
    const tone = new ToneGenerator(frequencyHz, amplitude);
    const encoder = new OpusFrameEncoder(1);
    const frames = Math.round(durationMs / OPUS_FRAME_MS);
    const start = Date.now();
    try {
      for (let i = 0; i < frames; i++) {
        await this.sendPayload(encoder.encode(tone.nextFrame()), OPUS_FRAME_SAMPLES, i === 0);
        // Paced against the start time, so a late timer does not stretch the whole tone.
        await sleep(start + (i + 1) * OPUS_FRAME_MS - Date.now());
      }
    } finally {
      encoder.close();
    }
    return frames;
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * One incoming stream over a plain RTP transport: creates the recv
 * transport, tells the SFU where to send, consumes the producer, resumes it,
 * and keeps what arrives (decoded when it is Opus).
 */
export class PlainReceiveStream {
  readonly packets: RtpPacket[] = [];
  /** Decoded 20 ms PCM frames, in arrival order (audio only). */
  readonly frames: Int16Array[] = [];
  decodeErrors = 0;
  private readonly decoder?: OpusFrameDecoder;
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    readonly callId: string,
    readonly transportId: string,
    readonly consumerId: string,
    readonly producerId: string,
    readonly kind: MediaKind,
    readonly payloadType: number,
    private readonly socket: RtpUdpSocket,
  ) {
    if (kind === 'audio') this.decoder = new OpusFrameDecoder(1);
    socket.onRtp((packet) => this.receive(packet));
  }

  static async open(client: SocialClient, callId: string, producerId: string): Promise<PlainReceiveStream> {
    const socket = await RtpUdpSocket.open();
    try {
      const transport = await client.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
      await client.request('media:connect-transport', { transportId: transport.transportId, ...socket.address });
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

  close(): void {
    this.socket.close();
    this.decoder?.close();
  }

  private receive(packet: RtpPacket): void {
    if (packet.payloadType !== this.payloadType) return;
    this.packets.push(packet);
    if (this.decoder) {
      try {
        this.frames.push(this.decoder.decode(packet.payload));
      } catch {
        this.decodeErrors++;
      }
    }
    for (const waiter of [...this.waiters]) {
      if (this.packets.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
