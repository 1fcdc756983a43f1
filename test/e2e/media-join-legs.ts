import {
  EncodedTone,
  FramePacer,
  OPUS_FRAME_MS,
  OPUS_FRAME_SAMPLES,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  randomSsrc,
  RtpPacket,
  rtpHeader,
  RtpUdpSocket,
  SocialClient,
  syntheticVp8Payload,
} from '@app/client';
import type { ConsumerInfoDto, MediaJoinResultDto, schemas } from '@app/contracts';
import { sleep } from '../support/wait';

type Kind = 'audio' | 'video';

/**
 * One participant's plain-RTP media set up with `media:join`: a UDP socket
 * it sends from and one it receives on, the join options naming both, and
 * what arrived per consumer (told apart by the consumer's SSRC). Test code
 * over the SDK's RTP pieces, so the join itself is the raw protocol.
 */
export class JoinedLeg {
  readonly ssrcs: Record<Kind, number> = { audio: randomSsrc(), video: randomSsrc() };
  private result?: MediaJoinResultDto;
  private readonly consumersBySsrc = new Map<number, ConsumerInfoDto>();
  private readonly packets = new Map<string, RtpPacket[]>();
  /** Each stream's own RTP sequence number and timestamp. */
  private readonly clocks = new Map<number, { sequenceNumber: number; timestamp: number }>();

  private constructor(
    readonly client: SocialClient,
    readonly callId: string,
    readonly sendSocket: RtpUdpSocket,
    readonly recvSocket: RtpUdpSocket,
  ) {
    recvSocket.onRtp((packet) => {
      const consumer = this.consumersBySsrc.get(packet.ssrc);
      if (!consumer) return;
      const list = this.packets.get(consumer.consumerId) ?? [];
      list.push(packet);
      this.packets.set(consumer.consumerId, list);
    });
  }

  /** Sockets on the loopback, the address the test gateway sees its clients come from. */
  static async open(client: SocialClient, callId: string): Promise<JoinedLeg> {
    const [send, recv] = await Promise.all([RtpUdpSocket.open('127.0.0.1'), RtpUdpSocket.open('127.0.0.1')]);
    return new JoinedLeg(client, callId, send, recv);
  }

  /** The join's options: a plain send transport producing `produce`, a plain recv transport sending here, plain capabilities. */
  options(produce: Kind[] = ['audio']): schemas.MediaJoinOptions {
    return {
      rtpCapabilities: PLAIN_RTP_CAPABILITIES,
      send: {
        type: 'plain',
        ip: '127.0.0.1',
        port: this.sendSocket.address.port,
        produce: produce.map((kind) => ({ kind, rtpParameters: plainRtpParameters(kind, this.ssrcs[kind]) })),
      },
      recv: { type: 'plain', ip: '127.0.0.1', port: this.recvSocket.address.port },
    };
  }

  /** `media:join` with these options; its answer is kept (transports, producers, consumers). */
  async join(produce: Kind[] = ['audio']): Promise<MediaJoinResultDto> {
    return this.joined(await this.client.request('media:join', { callId: this.callId, ...this.options(produce) }));
  }

  /** Keeps a join's answer (from media:join or call:accept's `media`). */
  joined(result: MediaJoinResultDto): MediaJoinResultDto {
    this.result = result;
    for (const consumer of result.consumers) this.addConsumer(consumer);
    return result;
  }

  /** A consumer made for this participant later (`media:consumer-added`). */
  addConsumer(consumer: ConsumerInfoDto): void {
    const ssrc = (consumer.rtpParameters as { encodings?: { ssrc?: number }[] }).encodings?.[0]?.ssrc;
    if (ssrc !== undefined) this.consumersBySsrc.set(ssrc, consumer);
  }

  get consumers(): ConsumerInfoDto[] {
    return [...this.consumersBySsrc.values()];
  }

  producerId(kind: Kind): string {
    const producer = this.result?.send?.producers.find((p) => p.kind === kind);
    if (!producer) throw new Error(`no ${kind} producer in the join's answer`);
    return producer.producerId;
  }

  /** The plain send transport the join made (media:produce can add to it). */
  producerTransportId(): string {
    if (!this.result?.send) throw new Error('no send transport in the join’s answer');
    return this.result.send.transportId;
  }

  /** Packets received of the consumer carrying `producerId`. */
  receivedOf(producerId: string): RtpPacket[] {
    const consumer = this.consumers.find((c) => c.producerId === producerId);
    return consumer ? (this.packets.get(consumer.consumerId) ?? []) : [];
  }

  /** Resolves once `count` packets of `producerId` arrived, or after `timeoutMs` with what came. */
  async waitForPackets(producerId: string, count: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.receivedOf(producerId).length < count && Date.now() < deadline) await sleep(20);
    return this.receivedOf(producerId).length;
  }

  /** A real Opus tone on the audio producer, one 20 ms frame per packet in real time; packets sent. */
  sendTone(frequencyHz: number, durationMs: number): Promise<number> {
    const target = this.sendTarget();
    const tone = EncodedTone.of(frequencyHz);
    const frames = Math.round(durationMs / OPUS_FRAME_MS);
    const payloadType = 100;
    return new Promise((resolve) => {
      FramePacer.shared.start({
        frames,
        frameMs: OPUS_FRAME_MS,
        sendFrame: (n) =>
          this.sendSocket.sendAndForget(this.packet(payloadType, this.ssrcs.audio, tone.packet(n), n === 0), target.ip, target.port),
        finished: () => resolve(frames),
      });
    });
  }

  /** Sends `count` synthetic VP8 key frames on the video producer, one packet each, 10 ms apart. */
  async sendVideoPackets(count: number): Promise<void> {
    const target = this.sendTarget();
    for (let i = 0; i < count; i++) {
      // Key frames only: the SFU starts forwarding a video stream at a key frame.
      const payload = syntheticVp8Payload(true, i + 1);
      await this.sendSocket.send(this.packet(101, this.ssrcs.video, payload, true, 3000), target.ip, target.port);
      await sleep(10);
    }
  }

  close(): void {
    this.sendSocket.close();
    this.recvSocket.close();
  }

  private sendTarget(): { ip: string; port: number } {
    const send = this.result?.send as { ip?: string; port?: number } | undefined;
    if (!send?.ip || !send.port) throw new Error('no plain send transport in the join’s answer');
    return { ip: send.ip, port: send.port };
  }

  private packet(payloadType: number, ssrc: number, payload: Buffer, marker: boolean, step = OPUS_FRAME_SAMPLES): Buffer[] {
    let clock = this.clocks.get(ssrc);
    if (!clock) {
      clock = { sequenceNumber: Math.floor(Math.random() * 0xffff), timestamp: Math.floor(Math.random() * 0xffffffff) };
      this.clocks.set(ssrc, clock);
    }
    clock.timestamp = (clock.timestamp + step) >>> 0;
    clock.sequenceNumber = (clock.sequenceNumber + 1) & 0xffff;
    return [rtpHeader({ payloadType, sequenceNumber: clock.sequenceNumber, timestamp: clock.timestamp, ssrc, marker }), payload];
  }
}
