import { performance } from 'node:perf_hooks';
import {
  checkTone,
  EncodedTone,
  FramePacer,
  OPUS_FRAME_MS,
  OPUS_FRAME_SAMPLES,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  randomSsrc,
  RtpAddress,
  rtpAddressFor,
  rtpHeader,
  RtpUdpSocket,
  SocialClient,
  ToneCheck,
  vp8TimestampStep,
} from '@app/client';
import type { ImpairedLink } from './impaired-link';
import { VideoFrameChecker, VideoFrameSource, VideoReceiveSummary } from './video-frames';

type Kind = 'audio' | 'video';
const RTP_HEADER_BYTES = 12;

/** Where the bytes a participant sends and receives are counted (per second, by the experiment). */
export type ByteMeter = (direction: 'sent' | 'received', bytes: number) => void;

export interface ParticipantMediaOptions {
  video: boolean;
  rtpAddress?: RtpAddress;
  /** This participant's uplink (client to SFU), and its downlink per kind (SFU to client). */
  uplink: { audio: ImpairedLink; video: ImpairedLink };
  downlink: { audio: ImpairedLink; video: ImpairedLink };
  meter: ByteMeter;
  videoSource: VideoFrameSource;
}

/** One outgoing stream: a plain send transport, a producer, a socket; each packet goes through the uplink. */
class OutgoingStream {
  private sequenceNumber = Math.floor(Math.random() * 0xffff);
  private timestamp = Math.floor(Math.random() * 0xffffffff);
  private started = false;
  closed = false;
  packetsSent = 0;
  packetsDropped = 0;
  framesSent = 0;

  constructor(
    readonly kind: Kind,
    readonly producerId: string,
    private readonly ssrc: number,
    private readonly payloadType: number,
    private readonly socket: RtpUdpSocket,
    private readonly remote: { ip: string; port: number },
    private readonly link: ImpairedLink,
    private readonly meter: ByteMeter,
  ) {}

  static async open(client: SocialClient, callId: string, kind: Kind, address: RtpAddress, link: ImpairedLink, meter: ByteMeter): Promise<OutgoingStream> {
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = (await client.request('media:create-transport', { callId, direction: 'send', type: 'plain' })) as { transportId: string; ip: string; port: number };
      const ssrc = randomSsrc();
      const rtpParameters = plainRtpParameters(kind, ssrc);
      const { producerId } = await client.request('media:produce', { transportId: transport.transportId, kind, rtpParameters });
      const payloadType = (rtpParameters.codecs as { payloadType: number }[])[0].payloadType;
      return new OutgoingStream(kind, producerId, ssrc, payloadType, socket, transport, link, meter);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** One media frame: its payloads share a timestamp; the last one carries the marker. */
  sendFrame(payloads: Buffer[], timestampStep: number): void {
    if (this.closed) return;
    if (this.started) this.timestamp = (this.timestamp + timestampStep) >>> 0;
    this.started = true;
    this.framesSent++;
    const now = performance.now();
    payloads.forEach((payload, i) => {
      this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
      const header = rtpHeader({
        payloadType: this.payloadType,
        sequenceNumber: this.sequenceNumber,
        timestamp: this.timestamp,
        ssrc: this.ssrc,
        marker: this.kind === 'video' ? i === payloads.length - 1 : this.framesSent === 1,
      });
      const bytes = RTP_HEADER_BYTES + payload.length;
      const verdict = this.link.decide(bytes, now);
      if (verdict.drop) {
        this.packetsDropped++;
        return;
      }
      this.packetsSent++;
      const send = () => {
        if (this.closed) return;
        this.meter('sent', bytes);
        this.socket.sendAndForget([header, payload], this.remote.ip, this.remote.port);
      };
      if (verdict.delayMs < 1) send();
      else setTimeout(send, verdict.delayMs);
    });
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}

/** What one receiving leg saw. */
export interface LegReceiveStats {
  kind: Kind;
  packets: number;
  bytes: number;
  /** From sequence numbers: packets the sender numbered that never arrived (here or upstream). */
  packetsLost: number;
  lossRatio: number;
  /** Mean length of a run of lost packets. */
  meanBurstPackets: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  firstPacketAt?: number;
}

/** One incoming stream: a plain recv transport, a consumer; each packet goes through the downlink first. */
class IncomingStream {
  readonly arrivals: { seq: number; at: number; payload: Buffer }[] = [];
  private closed = false;
  private highestSeq = -1;
  private cycles = 0;
  private jitter = 0;
  private lastTransit?: number;
  private bytes = 0;
  private readonly clockRate: number;
  readonly video?: VideoFrameChecker;
  firstPacketAt?: number;
  private firstListeners: (() => void)[] = [];

  constructor(
    readonly kind: Kind,
    readonly producerId: string,
    private readonly socket: RtpUdpSocket,
    private readonly link: ImpairedLink,
    private readonly meter: ByteMeter,
    fps: number,
  ) {
    this.clockRate = kind === 'audio' ? 48_000 : 90_000;
    if (kind === 'video') this.video = new VideoFrameChecker(fps);
    socket.onRtp((packet) => {
      const bytes = RTP_HEADER_BYTES + packet.payload.length;
      const verdict = this.link.decide(bytes, performance.now());
      if (verdict.drop) return;
      const deliver = () => !this.closed && this.arrive(packet.sequenceNumber, packet.timestamp, packet.payload, bytes);
      if (verdict.delayMs < 1) deliver();
      else setTimeout(deliver, verdict.delayMs);
    });
  }

  static async open(client: SocialClient, callId: string, producerId: string, address: RtpAddress, link: ImpairedLink, meter: ByteMeter, fps: number): Promise<IncomingStream> {
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = await client.request('media:create-transport', { callId, direction: 'recv', type: 'plain' });
      await client.request('media:connect-transport', { transportId: transport.transportId, ip: address.announcedIp, port: socket.address.port });
      const consumer = await client.request('media:consume', { transportId: transport.transportId, producerId, rtpCapabilities: PLAIN_RTP_CAPABILITIES });
      const stream = new IncomingStream(consumer.kind, producerId, socket, link, meter, fps);
      await client.request('media:resume', { consumerId: consumer.consumerId });
      return stream;
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  onFirstPacket(listener: () => void): void {
    if (this.firstPacketAt !== undefined) listener();
    else this.firstListeners.push(listener);
  }

  private arrive(seq: number, timestamp: number, payload: Buffer, bytes: number): void {
    const at = performance.now();
    this.meter('received', bytes);
    this.bytes += bytes;
    // Extended sequence number: count wraps of the 16-bit counter.
    if (this.highestSeq >= 0 && seq < 0x1000 && (this.highestSeq & 0xffff) > 0xf000) this.cycles++;
    const extended = this.cycles * 0x10000 + seq;
    this.highestSeq = Math.max(this.highestSeq, extended);
    const transit = at - (timestamp / this.clockRate) * 1000;
    if (this.lastTransit !== undefined) this.jitter += (Math.abs(transit - this.lastTransit) - this.jitter) / 16;
    this.lastTransit = transit;
    this.arrivals.push({ seq: extended, at, payload });
    this.video?.add(payload);
    if (this.firstPacketAt === undefined) {
      this.firstPacketAt = at;
      for (const l of this.firstListeners.splice(0)) l();
    }
  }

  stats(): LegReceiveStats {
    const seqs = [...new Set(this.arrivals.map((a) => a.seq))].sort((a, b) => a - b);
    let lost = 0;
    let runs = 0;
    for (let i = 1; i < seqs.length; i++) {
      const gap = seqs[i] - seqs[i - 1] - 1;
      if (gap > 0) {
        lost += gap;
        runs++;
      }
    }
    const expected = seqs.length === 0 ? 0 : seqs[seqs.length - 1] - seqs[0] + 1;
    return {
      kind: this.kind,
      packets: this.arrivals.length,
      bytes: this.bytes,
      packetsLost: lost,
      lossRatio: expected > 0 ? lost / expected : 0,
      meanBurstPackets: runs > 0 ? lost / runs : 1,
      jitterMs: Math.round(this.jitter * 100) / 100,
      firstPacketAt: this.firstPacketAt,
    };
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}

/**
 * One participant's media in an experiment call: real Opus audio (a tone)
 * and, in a video call, a checkable VP8 stream, both sent through the
 * participant's uplink; the other participant's streams received through
 * its downlink. Video stops when the server closes the producer (a kill
 * switch); audio goes on.
 */
export class ParticipantMedia {
  audioOut?: OutgoingStream;
  videoOut?: OutgoingStream;
  readonly incoming = new Map<Kind, IncomingStream>();
  /** When this participant heard its own video producer closed, and why. */
  videoClosed?: { at: number; reason: string };
  /** The other participant's video producer closed (at, reason). */
  peerVideoClosed?: { at: number; reason: string };
  private readonly offs: (() => void)[] = [];
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly requested = new Set<string>();
  private readonly address: RtpAddress;
  private readonly waiting: { kind: Kind; resolve: () => void }[] = [];
  openErrors: string[] = [];

  private constructor(
    readonly client: SocialClient,
    readonly callId: string,
    private readonly options: ParticipantMediaOptions,
    address: RtpAddress,
  ) {
    this.address = address;
  }

  static async open(client: SocialClient, callId: string, options: ParticipantMediaOptions): Promise<ParticipantMedia> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const media = new ParticipantMedia(client, callId, options, address);
    media.offs.push(
      client.on('media:producer-added', (e) => {
        if (e.callId === callId && e.userId !== client.id) media.receive(e.producerId, e.kind);
      }),
      client.on('media:producer-closed', (e) => {
        if (e.callId !== callId) return;
        const at = performance.now();
        if (media.videoOut && e.producerId === media.videoOut.producerId) {
          media.videoClosed = { at, reason: e.reason };
          media.videoOut.close();
        } else if (media.incoming.get('video')?.producerId === e.producerId) {
          media.peerVideoClosed = { at, reason: e.reason };
        }
      }),
    );
    try {
      media.audioOut = await OutgoingStream.open(client, callId, 'audio', address, options.uplink.audio, options.meter);
      if (options.video) media.videoOut = await OutgoingStream.open(client, callId, 'video', address, options.uplink.video, options.meter);
      // The other side may have produced before we listened.
      const { producers } = (await client.request('media:capabilities', { callId })) as { producers?: { producerId: string; userId: string; kind: Kind }[] };
      for (const p of producers ?? []) if (p.userId !== client.id) media.receive(p.producerId, p.kind);
    } catch (err) {
      media.close();
      throw err;
    }
    return media;
  }

  /** Resolves when a stream of each kind is being received (or after timeoutMs). */
  async receiving(kinds: Kind[], timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!kinds.every((k) => this.incoming.has(k))) {
      if (performance.now() > deadline || this.closed) return false;
      await Promise.race([new Promise<void>((resolve) => this.waiting.push({ kind: kinds[0], resolve })), new Promise((r) => setTimeout(r, 50))]);
    }
    return true;
  }

  /** Starts sending: the tone and, in a video call, video frames, for `durationMs`. */
  send(toneHz: number, durationMs: number): Promise<void> {
    const tone = EncodedTone.of(toneHz);
    const audio = this.audioOut!;
    const jobs: Promise<void>[] = [
      new Promise((resolve) =>
        FramePacer.shared.start({
          frames: Math.round(durationMs / OPUS_FRAME_MS),
          frameMs: OPUS_FRAME_MS,
          sendFrame: (n) => audio.sendFrame([tone.packet(n)], OPUS_FRAME_SAMPLES),
          finished: resolve,
        }),
      ),
    ];
    const video = this.videoOut;
    if (video) {
      const source = this.options.videoSource;
      const step = vp8TimestampStep(source.fps);
      jobs.push(
        new Promise((resolve) =>
          FramePacer.shared.start({
            frames: Math.round((durationMs / 1000) * source.fps),
            frameMs: 1000 / source.fps,
            sendFrame: (n) => video.sendFrame(source.frame(n).payloads, step),
            finished: resolve,
          }),
        ),
      );
    }
    return Promise.all(jobs).then(() => undefined);
  }

  /** Whether this leg heard the other side's tone (its own packets lost on the way count against it, within `passShare`). */
  checkTone(otherHz: number, expectedPackets: number, passShare: number): ToneCheck | undefined {
    const audio = this.incoming.get('audio');
    if (!audio) return undefined;
    return checkTone(audio.arrivals.map((a) => a.payload), EncodedTone.of(otherHz), expectedPackets, { passShare });
  }

  audioArrivalsAfter(at: number): number {
    return this.incoming.get('audio')?.arrivals.filter((a) => a.at >= at).length ?? 0;
  }

  videoArrivalsAfter(at: number): number {
    return this.incoming.get('video')?.arrivals.filter((a) => a.at >= at).length ?? 0;
  }

  stats(kind: Kind): LegReceiveStats | undefined {
    return this.incoming.get(kind)?.stats();
  }

  videoSummary(): VideoReceiveSummary | undefined {
    return this.incoming.get('video')?.video?.summary();
  }

  firstAudioAt(): number | undefined {
    return this.incoming.get('audio')?.firstPacketAt;
  }

  close(): void {
    this.closed = true;
    for (const off of this.offs.splice(0)) off();
    this.audioOut?.close();
    this.videoOut?.close();
    for (const s of this.incoming.values()) s.close();
    for (const w of this.waiting.splice(0)) w.resolve();
  }

  private receive(producerId: string, kind: Kind): void {
    // A producer is announced by a push and listed by media:capabilities: open it once.
    if (this.closed || this.requested.has(producerId)) return;
    this.requested.add(producerId);
    const link = this.options.downlink[kind];
    const opening = IncomingStream.open(this.client, this.callId, producerId, this.address, link, this.options.meter, this.options.videoSource.fps)
      .then((stream) => {
        if (this.closed) return stream.close();
        this.incoming.get(kind)?.close();
        this.incoming.set(kind, stream);
        for (const w of this.waiting.splice(0)) w.resolve();
      })
      .catch((err) => this.openErrors.push(`${kind} receive: ${(err as Error).message}`));
    this.pending.add(opening);
    void opening.finally(() => this.pending.delete(opening));
  }
}

