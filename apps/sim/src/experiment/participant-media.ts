import { performance } from 'node:perf_hooks';
import {
  analyseAudioLeg,
  AudioLegReport,
  checkTone,
  EncodedTone,
  FramePacer,
  LinkImpairment,
  OPUS_FRAME_MS,
  OPUS_FRAME_SAMPLES,
  OpusEncoderSettings,
  parseKeyFrameRequests,
  pliPacket,
  openPlainConsumer,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  randomSsrc,
  ReceivedPacket,
  RtpAddress,
  rtpAddressFor,
  rtpHeader,
  RtpPacket,
  RtpUdpSocket,
  SocialClient,
  ToneCheck,
  VideoClip,
  VideoLegReport,
  VideoReceiverStats,
  Vp8Depacketizer,
} from '@app/client';
import type { ConsumerAddedDto } from '@app/contracts';
import { ClipSender } from './clip-video';

type Kind = 'audio' | 'video';
const RTP_HEADER_BYTES = 12;
const VIDEO_CLOCK_HZ = 90_000;

/** Where the bytes a participant sends and receives are counted (per second, by the experiment). */
export type ByteMeter = (direction: 'sent' | 'received', bytes: number) => void;

/** A leg's two directions as seen from this participant: what it sends (up) and receives (down), per kind. */
export interface ParticipantLinks {
  up: Record<Kind, LinkImpairment | undefined>;
  down: Record<Kind, LinkImpairment | undefined>;
}

export interface ParticipantMediaOptions {
  video: boolean;
  rtpAddress?: RtpAddress;
  links: ParticipantLinks;
  meter: ByteMeter;
  clip: VideoClip;
  /** Opus encoder settings of the tone (in-band FEC when loss is expected). */
  opus?: OpusEncoderSettings;
}

/** Through a link when there is one, else at once. */
function through(link: LinkImpairment | undefined, bytes: number, deliver: () => void): void {
  if (link) link.submit(bytes, deliver);
  else deliver();
}

/**
 * One outgoing stream: a plain send transport, a producer, a socket; each
 * packet goes through the uplink. A video stream plays the clip and skips
 * to the next key frame when the SFU relays a receiver's PLI or FIR.
 */
class OutgoingStream {
  private sequenceNumber = Math.floor(Math.random() * 0xffff);
  private timestamp = Math.floor(Math.random() * 0xffffffff);
  private started = false;
  closed = false;
  packetsSent = 0;
  framesSent = 0;
  readonly clip?: ClipSender;

  constructor(
    readonly kind: Kind,
    readonly producerId: string,
    private readonly ssrc: number,
    private readonly payloadType: number,
    private readonly socket: RtpUdpSocket,
    private readonly remote: { ip: string; port: number },
    private readonly link: LinkImpairment | undefined,
    private readonly meter: ByteMeter,
    clip?: VideoClip,
    private readonly ownsSocket = true,
  ) {
    if (kind === 'video' && clip) {
      const sender = (this.clip = new ClipSender(clip));
      socket.onRtcp((datagram) => {
        if (parseKeyFrameRequests(datagram).some((r) => r.mediaSsrc === ssrc)) sender.requestKeyFrame();
      });
    }
  }

  static async open(
    client: SocialClient,
    callId: string,
    kind: Kind,
    address: RtpAddress,
    link: LinkImpairment | undefined,
    meter: ByteMeter,
    clip: VideoClip,
  ): Promise<OutgoingStream> {
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = (await client.request('media:create-transport', { callId, direction: 'send', type: 'plain' })) as {
        transportId: string;
        ip: string;
        port: number;
      };
      const ssrc = randomSsrc();
      const rtpParameters = plainRtpParameters(kind, ssrc);
      const { producerId } = await client.request('media:produce', { transportId: transport.transportId, kind, rtpParameters });
      const payloadType = (rtpParameters.codecs as { payloadType: number }[])[0].payloadType;
      return new OutgoingStream(kind, producerId, ssrc, payloadType, socket, transport, link, meter, clip);
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
      this.packetsSent++;
      through(this.link, bytes, () => {
        if (this.closed) return;
        this.meter('sent', bytes);
        this.socket.sendAndForget([header, payload], this.remote.ip, this.remote.port);
      });
    });
  }

  close(): void {
    this.closed = true;
    if (this.ownsSocket) this.socket.close();
  }
}

/** What one receiving leg saw, from sequence numbers and arrival times. */
export interface LegReceiveStats {
  kind: Kind;
  packets: number;
  bytes: number;
  /** Packets the sender numbered that never arrived (lost on either hop). */
  packetsLost: number;
  lossRatio: number;
  /** Mean length of a run of lost packets. */
  meanBurstPackets: number;
  firstPacketAt?: number;
}

/**
 * One incoming stream: a plain recv transport and a consumer; each packet
 * goes through the downlink first. Video frames are reassembled and judged
 * against the clip as a decoder would, asking the sender for a key frame
 * (PLI, through the SFU) when the picture breaks.
 */
class IncomingStream {
  readonly arrivals: ReceivedPacket[] = [];
  private closed = false;
  private bytes = 0;
  private readonly depacketizer?: Vp8Depacketizer;
  readonly video?: VideoReceiverStats;
  firstPacketAt?: number;
  private mediaSsrc?: number;
  private readonly ownSsrc = randomSsrc();

  constructor(
    readonly kind: Kind,
    readonly producerId: string,
    private readonly socket: RtpUdpSocket,
    private readonly sfu: { ip: string; port: number },
    private readonly link: LinkImpairment | undefined,
    private readonly meter: ByteMeter,
    clip: VideoClip,
    /** On a socket shared by both kinds (media:join): only this consumer's SSRC. */
    private readonly ssrc?: number,
    private readonly ownsSocket = true,
  ) {
    if (kind === 'video') {
      this.depacketizer = new Vp8Depacketizer();
      this.video = new VideoReceiverStats(clip, () => this.requestKeyFrame());
    }
    socket.onRtp((packet) => {
      if (this.closed || (ssrc !== undefined && packet.ssrc !== ssrc)) return;
      const bytes = RTP_HEADER_BYTES + packet.payload.length;
      through(this.link, bytes, () => !this.closed && this.arrive(packet, bytes));
    });
  }

  static async open(
    client: SocialClient,
    callId: string,
    producerId: string,
    address: RtpAddress,
    link: LinkImpairment | undefined,
    meter: ByteMeter,
    clip: VideoClip,
  ): Promise<IncomingStream> {
    const stream = await openPlainConsumer(
      client,
      callId,
      producerId,
      address,
      ({ socket, transport, consumer }) => new IncomingStream(consumer.kind, producerId, socket, transport, link, meter, clip),
    );
    // A video consumer starts at a key frame: ask at once rather than wait for the clip's next one.
    stream.startVideo();
    return stream;
  }

  /** Asks for a key frame at once (a consumer starts at one). */
  startVideo(): void {
    this.video?.requestKeyFrameNow();
  }

  private requestKeyFrame(): void {
    // The SFU answers a consumer's PLI by asking the producer; media SSRC: the consumer's, once known.
    if (this.closed) return;
    this.socket.sendAndForget(pliPacket(this.ownSsrc, this.mediaSsrc ?? 0), this.sfu.ip, this.sfu.port);
  }

  private arrive(packet: RtpPacket, bytes: number): void {
    const at = performance.now();
    this.meter('received', bytes);
    this.bytes += bytes;
    this.mediaSsrc = packet.ssrc;
    this.arrivals.push({ packet, arrivalMs: at });
    if (this.depacketizer && this.video) {
      const abandoned = this.depacketizer.abandoned;
      const frame = this.depacketizer.push(packet);
      if (this.depacketizer.abandoned > abandoned) this.video.onLoss();
      if (frame) this.video.onFrame(frame);
    }
    this.firstPacketAt ??= at;
  }

  /** Extended sequence numbers in arrival order: a wrap of the 16-bit counter adds 65536 (late packets from before a wrap stay before it). */
  private extendedSequences(): number[] {
    const out: number[] = [];
    let cycles = 0;
    let highest = -1;
    for (const { packet } of this.arrivals) {
      const seq = packet.sequenceNumber;
      if (highest < 0) {
        highest = seq;
        out.push(seq);
        continue;
      }
      const top = highest & 0xffff;
      if (seq < 0x1000 && top > 0xf000) {
        cycles++;
        highest = cycles * 0x10000 + seq;
        out.push(highest);
      } else if (seq > 0xf000 && top < 0x1000 && cycles > 0) out.push((cycles - 1) * 0x10000 + seq);
      else {
        const ext = cycles * 0x10000 + seq;
        highest = Math.max(highest, ext);
        out.push(ext);
      }
    }
    return out;
  }

  /** The packets in sequence order, each once. */
  inSequence(): RtpPacket[] {
    const ext = this.extendedSequences();
    const byExt = new Map<number, RtpPacket>();
    ext.forEach((e, i) => byExt.has(e) || byExt.set(e, this.arrivals[i].packet));
    return [...byExt.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
  }

  stats(): LegReceiveStats {
    const unique = [...new Set(this.extendedSequences())].sort((a, b) => a - b);
    let lost = 0;
    let runs = 0;
    for (let i = 1; i < unique.length; i++) {
      const gap = unique[i] - unique[i - 1] - 1;
      if (gap > 0) {
        lost += gap;
        runs++;
      }
    }
    const expected = unique.length === 0 ? 0 : unique[unique.length - 1] - unique[0] + 1;
    return {
      kind: this.kind,
      packets: this.arrivals.length,
      bytes: this.bytes,
      packetsLost: lost,
      lossRatio: expected > 0 ? lost / expected : 0,
      meanBurstPackets: runs > 0 ? lost / runs : 1,
      firstPacketAt: this.firstPacketAt,
    };
  }

  /** Arrivals from `from` (performance.now() time) on. */
  arrivalsAfter(from: number): number {
    let n = 0;
    for (let i = this.arrivals.length - 1; i >= 0 && this.arrivals[i].arrivalMs >= from; i--) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    if (this.ownsSocket) this.socket.close();
  }
}

/**
 * One participant's media in an experiment call: a real Opus tone and, in
 * a video call, a real VP8 clip, both sent through the participant's
 * uplink; the other participant's streams received through its downlink
 * and judged there (tone, loss, FEC, MOS; frames intact, decodable, frozen).
 * Video stops when the server closes the producer (a kill switch); audio
 * goes on.
 */
export class ParticipantMedia {
  audioOut?: OutgoingStream;
  videoOut?: OutgoingStream;
  readonly incoming = new Map<Kind, IncomingStream>();
  /** When this participant heard its own video producer closed, and why. */
  videoClosed?: { at: number; reason: string };
  openErrors: string[] = [];
  private readonly offs: (() => void)[] = [];
  private closed = false;
  private readonly requested = new Set<string>();
  private readonly waiting: (() => void)[] = [];
  /** Joined: the shared sockets and where the receive transport is. */
  private sockets: RtpUdpSocket[] = [];
  private recvTransport?: { ip: string; port: number; socket: RtpUdpSocket };
  private readonly earlyConsumers: ConsumerAddedDto[] = [];

  private constructor(
    readonly client: SocialClient,
    readonly callId: string,
    private readonly options: ParticipantMediaOptions,
    private readonly address: RtpAddress,
  ) {}

  static async open(client: SocialClient, callId: string, options: ParticipantMediaOptions): Promise<ParticipantMedia> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const media = new ParticipantMedia(client, callId, options, address);
    media.offs.push(
      client.on('media:producer-added', (e) => {
        if (e.callId === callId && e.userId !== client.id) media.receive(e.producerId, e.kind);
      }),
    );
    media.listenForProducerClosed();
    try {
      const { up } = options.links;
      media.audioOut = await OutgoingStream.open(client, callId, 'audio', address, up.audio, options.meter, options.clip);
      if (options.video)
        media.videoOut = await OutgoingStream.open(client, callId, 'video', address, up.video, options.meter, options.clip);
      // The other side may have produced before we listened.
      const { producers } = (await client.request('media:capabilities', { callId })) as {
        producers?: { producerId: string; userId: string; kind: Kind }[];
      };
      for (const p of producers ?? []) if (p.userId !== client.id) media.receive(p.producerId, p.kind);
    } catch (err) {
      media.close();
      throw err;
    }
    return media;
  }

  /**
   * Joins the call's media in one request, as a client that knows what it
   * wants does: `join` sends media:join (the caller, once the call is
   * active); `accept` answers the ringing call with call:accept and the
   * join in the same request (the callee). Send and receive transports are
   * plain and shared by both kinds; the other side's producers come as
   * consumers, now and as media:consumer-added.
   */
  static async join(
    client: SocialClient,
    callId: string,
    options: ParticipantMediaOptions,
    how: 'join' | 'accept',
  ): Promise<ParticipantMedia> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const media = new ParticipantMedia(client, callId, options, address);
    const sendSocket = await RtpUdpSocket.open(address.bindIp);
    const recvSocket = await RtpUdpSocket.open(address.bindIp).catch((err) => {
      sendSocket.close();
      throw err;
    });
    media.sockets = [sendSocket, recvSocket];
    media.listenForProducerClosed();
    media.offs.push(
      client.on('media:consumer-added', (e) => {
        if (e.callId !== callId || media.closed) return;
        if (media.recvTransport) media.attachConsumer(e);
        else media.earlyConsumers.push(e);
      }),
    );
    try {
      const kinds: Kind[] = options.video ? ['audio', 'video'] : ['audio'];
      const ssrcs = new Map(kinds.map((kind) => [kind, randomSsrc()] as const));
      const join = {
        rtpCapabilities: PLAIN_RTP_CAPABILITIES,
        send: {
          type: 'plain' as const,
          rtcpMux: true,
          // The only source the server accepts this participant's RTP from.
          ip: address.announcedIp,
          port: sendSocket.address.port,
          produce: kinds.map((kind) => ({ kind, rtpParameters: plainRtpParameters(kind, ssrcs.get(kind)!) })),
        },
        recv: { type: 'plain' as const, rtcpMux: true, ip: address.announcedIp, port: recvSocket.address.port },
      };
      const joined =
        how === 'accept'
          ? (await client.calls.acceptWithJoin(callId, join)).media
          : await client.request('media:join', { callId, ...join });
      if (!joined) throw new Error('call:accept answered without media');
      const { send, recv } = joined;
      if (!send || !('ip' in send) || !recv || !('ip' in recv)) throw new Error('media:join answered without plain transports');
      for (const { kind, producerId } of send.producers) {
        const ssrc = ssrcs.get(kind);
        if (ssrc === undefined) continue;
        const payloadType = (plainRtpParameters(kind, ssrc).codecs as { payloadType: number }[])[0].payloadType;
        const stream = new OutgoingStream(
          kind,
          producerId,
          ssrc,
          payloadType,
          sendSocket,
          send,
          options.links.up[kind],
          options.meter,
          options.clip,
          false,
        );
        if (kind === 'audio') media.audioOut = stream;
        else media.videoOut = stream;
      }
      if (!media.audioOut) throw new Error('media:join made no audio producer');
      media.recvTransport = { ip: recv.ip, port: recv.port, socket: recvSocket };
      for (const consumer of joined.consumers) media.attachConsumer({ ...consumer, callId });
      for (const consumer of media.earlyConsumers.splice(0)) media.attachConsumer(consumer);
    } catch (err) {
      media.close();
      throw err;
    }
    return media;
  }

  /** Resolves true when a stream of each kind is being received, false after timeoutMs. */
  async receiving(kinds: Kind[], timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!kinds.every((k) => this.incoming.has(k))) {
      if (performance.now() > deadline || this.closed) return false;
      await Promise.race([new Promise<void>((resolve) => this.waiting.push(resolve)), new Promise((r) => setTimeout(r, 50))]);
    }
    return true;
  }

  /** Sends the tone and, in a video call, the clip, for `durationMs`. */
  send(toneHz: number, durationMs: number): Promise<void> {
    const tone = EncodedTone.of(toneHz, 0.3, this.options.opus);
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
    if (video?.clip) {
      const clip = this.options.clip;
      const step = Math.round(VIDEO_CLOCK_HZ / clip.fps);
      jobs.push(
        new Promise((resolve) =>
          FramePacer.shared.start({
            frames: Math.round(durationMs / clip.frameMs),
            frameMs: clip.frameMs,
            // A closed producer (kill switch): the stream stops sending.
            sendFrame: () => video.sendFrame(video.clip!.nextFrame(), step),
            finished: resolve,
          }),
        ),
      );
    }
    return Promise.all(jobs).then(() => undefined);
  }

  /** Whether this leg heard the other side's tone: its exact packets, within `passShare` of those sent. */
  checkTone(otherHz: number, expectedPackets: number, passShare: number): ToneCheck | undefined {
    const audio = this.incoming.get('audio');
    if (!audio) return undefined;
    // In sequence order, as a jitter buffer plays them: a path with jitter may reorder packets.
    return checkTone(
      audio.inSequence().map((p) => p.payload),
      EncodedTone.of(otherHz, 0.3, this.options.opus),
      expectedPackets,
      { passShare },
    );
  }

  /** The SDK's audio report of this leg: loss before and after FEC, SNR of the tone, E-model MOS. */
  async audioReport(otherHz: number, networkDelayMs: number, burstR: number): Promise<AudioLegReport | undefined> {
    const audio = this.incoming.get('audio');
    if (!audio || audio.arrivals.length === 0) return undefined;
    return analyseAudioLeg(audio.arrivals, otherHz, { networkDelayMs, burstR });
  }

  videoReport(framesSent: number): VideoLegReport | undefined {
    return this.incoming.get('video')?.video?.report(framesSent);
  }

  audioArrivalsAfter(at: number): number {
    return this.incoming.get('audio')?.arrivalsAfter(at) ?? 0;
  }

  stats(kind: Kind): LegReceiveStats | undefined {
    return this.incoming.get(kind)?.stats();
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
    for (const socket of this.sockets.splice(0)) socket.close();
    for (const w of this.waiting.splice(0)) w();
  }

  /** A kill switch closes the video producer: the sender hears it and stops sending video. */
  private listenForProducerClosed(): void {
    this.offs.push(
      this.client.on('media:producer-closed', (e) => {
        if (e.callId !== this.callId || !this.videoOut || e.producerId !== this.videoOut.producerId) return;
        this.videoClosed = { at: performance.now(), reason: e.reason };
        this.videoOut.close();
      }),
    );
  }

  /** A consumer on the joined receive transport: a stream of its own, on the shared socket, told apart by SSRC. */
  private attachConsumer(consumer: ConsumerAddedDto): void {
    const transport = this.recvTransport;
    if (!transport || this.closed || this.requested.has(consumer.producerId)) return;
    const rtp = consumer.rtpParameters as { encodings?: { ssrc?: number }[] };
    const ssrc = rtp.encodings?.[0]?.ssrc;
    if (ssrc === undefined) return void this.openErrors.push(`${consumer.kind} consumer without an SSRC`);
    this.requested.add(consumer.producerId);
    const stream = new IncomingStream(
      consumer.kind,
      consumer.producerId,
      transport.socket,
      transport,
      this.options.links.down[consumer.kind],
      this.options.meter,
      this.options.clip,
      ssrc,
      false,
    );
    stream.startVideo();
    this.incoming.get(consumer.kind)?.close();
    this.incoming.set(consumer.kind, stream);
    for (const w of this.waiting.splice(0)) w();
  }

  private receive(producerId: string, kind: Kind): void {
    // A producer is announced by a push and listed by media:capabilities: open it once.
    if (this.closed || this.requested.has(producerId)) return;
    this.requested.add(producerId);
    const { down } = this.options.links;
    IncomingStream.open(this.client, this.callId, producerId, this.address, down[kind], this.options.meter, this.options.clip)
      .then((stream) => {
        if (this.closed) return stream.close();
        this.incoming.get(kind)?.close();
        this.incoming.set(kind, stream);
        for (const w of this.waiting.splice(0)) w();
      })
      .catch((err) => this.openErrors.push(`${kind} receive: ${(err as Error).message}`));
  }
}
