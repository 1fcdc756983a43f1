import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ClientEvents } from '@app/contracts';
import type { SocialClient } from '../social-client';
import { analyseAudioLeg, AudioAnalysisOptions, AudioLegReport, ReceivedPacket } from './audio/audio-leg-report';
import { checkTone, EncodedTone, ToneCheck, ToneCheckOptions } from './encoded-tone';
import { FramePacer } from './frame-pacer';
import { LinkImpairment } from './network/link-impairment';
import { NetworkConditions, validateNetworkConditions } from './network/network-conditions';
import { deriveSeed } from './network/seeded-random';
import { decodeOpusStream, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES, OpusEncoderSettings } from './opus-codec';
import { plainRtpParameters, PLAIN_RTP_CAPABILITIES, randomSsrc } from './plain-rtp-parameters';
import { RtpAddress, rtpAddressFor } from './rtp-address';
import { rtpHeader, RtpPacket } from './rtp-packet';
import { RtpUdpSocket } from './rtp-udp-socket';
import { dominantFrequency, FrequencyScan } from './tone';
import { parseKeyFrameRequests, pliPacket } from './video/rtcp-feedback';
import { ClipCursor, VideoClip } from './video/video-clip';
import { VideoLegReport, VideoReceiverStats } from './video/video-receiver-stats';
import { nextPictureId, packetizeVp8, Vp8Depacketizer } from './video/vp8-rtp';

export type MediaKind = 'audio' | 'video';

/**
 * Network conditions a client applies to its own media, both directions:
 * `up` what it sends (RTP of a send stream, RTCP of a receive stream), `down`
 * what it receives. Each stream (kind and direction: one leg) gets its own
 * impairment, seeded from `seed` and its label, so runs replay exactly.
 */
export interface StreamNetwork {
  up?: NetworkConditions;
  down?: NetworkConditions;
  seed: number;
  /** Distinguishes this participant's legs from another's under the same seed (e.g. "caller"). */
  label?: string;
}

export interface PlainStreamOptions {
  /**
   * Where the stream's socket binds and what it announces; by default every
   * interface, announcing the address this host reaches the gateway from.
   */
  rtpAddress?: RtpAddress;
  network?: StreamNetwork;
  /** The clip a video stream sends and a video receiver checks against (default: the committed test clip). */
  clip?: VideoClip;
  /** A video receiver that showed no frame this long after it started asks for a key frame (default 1000 ms). */
  startupKeyFrameMs?: number;
}

/** The impairments of one leg, or none when the conditions change nothing. */
function legImpairments(network: StreamNetwork | undefined, leg: string): { up?: LinkImpairment; down?: LinkImpairment } {
  if (!network) return {};
  for (const direction of ['up', 'down'] as const) {
    const problem = network[direction] === undefined ? null : validateNetworkConditions(network[direction], `network.${direction}`);
    if (problem) throw new RangeError(problem);
  }
  const make = (conditions: NetworkConditions | undefined, direction: string) =>
    LinkImpairment.affects(conditions)
      ? new LinkImpairment(conditions!, deriveSeed(network.seed, `${network.label ?? ''}/${leg}/${direction}`))
      : undefined;
  return { up: make(network.up, 'up'), down: make(network.down, 'down') };
}

/** What a client reads of a consumer's rtpParameters: the payload type and SSRC it will receive. */
export const consumerRtp = z.object({
  codecs: z.array(z.object({ payloadType: z.number().int() })).min(1),
  encodings: z.array(z.object({ ssrc: z.number().int().optional() })).optional(),
});

/** A transport the server answered for `type: 'plain'`; anything else is a server fault. */
function plainTransport<T extends { transportId: string }>(transport: T): T & { ip: string; port: number } {
  if ('ip' in transport && 'port' in transport && typeof transport.ip === 'string' && typeof transport.port === 'number') {
    return { ...transport, ip: transport.ip, port: transport.port };
  }
  throw new Error('the server answered a plain transport without ip and port');
}

/** What openPlainConsumer hands the stream it makes: the socket, the recv transport sending to it, its consumer. */
export interface PlainConsumerSetup {
  socket: RtpUdpSocket;
  transport: { transportId: string; ip: string; port: number };
  consumer: ClientEvents['media:consume']['result'];
}

/**
 * Receives one producer over plain RTP: a UDP socket of its own on `address`,
 * a recv transport sending to it, a consumer of `producerId`, the stream
 * `makeStream` builds on them, then the consumer resumed (consumers start
 * paused; resuming once the stream listens means nothing is missed). Any
 * failure closes the socket.
 */
export async function openPlainConsumer<S>(
  client: SocialClient,
  callId: string,
  producerId: string,
  address: RtpAddress,
  makeStream: (setup: PlainConsumerSetup) => S,
): Promise<S> {
  const socket = await RtpUdpSocket.open(address.bindIp);
  try {
    const transport = plainTransport(await client.request('media:create-transport', { callId, direction: 'recv', type: 'plain' }));
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
    const stream = makeStream({ socket, transport, consumer });
    await client.request('media:resume', { consumerId: consumer.consumerId });
    return stream;
  } catch (err) {
    socket.close();
    throw err;
  }
}

/** 90 kHz clock step of one frame at `fps`. */
const videoTimestampStep = (fps: number) => Math.round(90_000 / fps);

/** What a send stream needs of the transport it sends on. */
export interface SendStreamSetup {
  callId: string;
  kind: MediaKind;
  transportId: string;
  producerId: string;
  ssrc: number;
  payloadType: number;
  socket: RtpUdpSocket;
  remote: { ip: string; port: number };
  /** Whether closing the stream closes the socket (false when streams share it). */
  ownsSocket: boolean;
}

/**
 * One outgoing stream over a plain RTP transport: creates the send
 * transport, produces, then sends RTP from its own UDP socket (the SFU
 * learns the socket's address from the first packet). A video stream
 * answers PLI and FIR for its SSRC by going on from the clip's next key frame.
 */
export class PlainSendStream {
  readonly callId: string;
  readonly kind: MediaKind;
  readonly transportId: string;
  readonly producerId: string;
  readonly ssrc: number;
  readonly payloadType: number;
  /** Video frames sent so far. */
  framesSent = 0;
  /** PLI/FIR for this stream heard from the SFU. */
  keyFrameRequestsReceived = 0;
  private sequenceNumber = Math.floor(Math.random() * 0xffff);
  private timestamp = Math.floor(Math.random() * 0xffffffff);
  private sent = 0;
  private pictureId = Math.floor(Math.random() * 0x7fff);
  private cursor?: ClipCursor;
  private readonly socket: RtpUdpSocket;
  private readonly remote: { ip: string; port: number };
  private readonly ownsSocket: boolean;
  private readonly up?: LinkImpairment;
  private readonly down?: LinkImpairment;
  private readonly keyFrameListeners: (() => void)[] = [];

  constructor(
    setup: SendStreamSetup,
    private readonly options: PlainStreamOptions = {},
  ) {
    this.callId = setup.callId;
    this.kind = setup.kind;
    this.transportId = setup.transportId;
    this.producerId = setup.producerId;
    this.ssrc = setup.ssrc;
    this.payloadType = setup.payloadType;
    this.socket = setup.socket;
    this.remote = setup.remote;
    this.ownsSocket = setup.ownsSocket;
    const leg = legImpairments(options.network, `${setup.kind}/send`);
    this.up = leg.up;
    this.down = leg.down;
    if (this.kind === 'video') {
      this.socket.onRtcp((datagram) => {
        if (this.down) this.down.submit(datagram.length, () => this.onRtcp(datagram));
        else this.onRtcp(datagram);
      });
    }
  }

  static async open(
    client: SocialClient,
    callId: string,
    kind: MediaKind = 'audio',
    options: PlainStreamOptions = {},
  ): Promise<PlainSendStream> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    const socket = await RtpUdpSocket.open(address.bindIp);
    try {
      const transport = plainTransport(await client.request('media:create-transport', { callId, direction: 'send', type: 'plain' }));
      const ssrc = randomSsrc();
      const rtpParameters = plainRtpParameters(kind, ssrc);
      const { producerId } = await client.request('media:produce', {
        transportId: transport.transportId,
        kind,
        rtpParameters,
      });
      const payloadType = rtpParameters.codecs[0].payloadType;
      return new PlainSendStream(
        { callId, kind, transportId: transport.transportId, producerId, ssrc, payloadType, socket, remote: transport, ownsSocket: true },
        options,
      );
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  get packetsSent(): number {
    return this.sent;
  }

  /** The impairment of what this stream sends, if any (its stats tell what the network did). */
  get upstream(): LinkImpairment | undefined {
    return this.up;
  }

  /** Listener hears of each key-frame request for this stream. */
  onKeyFrameRequest(listener: () => void): void {
    this.keyFrameListeners.push(listener);
  }

  /** Sends one RTP packet; `timestampStep` is how far the media clock moved since the last one. */
  async sendPayload(payload: Buffer, timestampStep: number, marker = false): Promise<void> {
    const datagram = this.nextPacket(payload, timestampStep, marker);
    if (this.up) return this.transmit(datagram);
    await this.socket.send(datagram, this.remote.ip, this.remote.port);
  }

  /**
   * A real Opus tone, one 20 ms frame per packet, paced in real time by the
   * process's shared pacer. The tone is encoded once per process and its
   * packets replayed (see EncodedTone); `settings` e.g. turns in-band FEC on.
   * Returns packets sent.
   */
  sendTone(frequencyHz: number, durationMs: number, amplitude = 0.3, settings?: OpusEncoderSettings): Promise<number> {
    if (this.kind !== 'audio') return Promise.reject(new Error('a tone goes on an audio stream'));
    const tone = EncodedTone.of(frequencyHz, amplitude, settings);
    const frames = Math.round(durationMs / OPUS_FRAME_MS);
    return new Promise((resolve) => {
      FramePacer.shared.start({
        frames,
        frameMs: OPUS_FRAME_MS,
        sendFrame: (n) => this.transmit(this.nextPacket(tone.packet(n), OPUS_FRAME_SAMPLES, n === 0)),
        finished: () => resolve(frames),
      });
    });
  }

  /**
   * Plays the clip in a loop at its frame rate for `durationMs`, each frame
   * cut into RFC 7741 packets; a key-frame request makes the next frame the
   * clip's next key frame. Returns frames sent by this call.
   */
  sendVideo(durationMs: number): Promise<number> {
    if (this.kind !== 'video') return Promise.reject(new Error('a clip goes on a video stream'));
    const clip = this.options.clip ?? VideoClip.load();
    this.cursor ??= new ClipCursor(clip);
    const cursor = this.cursor;
    const frames = Math.round(durationMs / clip.frameMs);
    const step = videoTimestampStep(clip.fps);
    return new Promise((resolve) => {
      FramePacer.shared.start({
        frames,
        frameMs: clip.frameMs,
        sendFrame: () => {
          const payloads = packetizeVp8(clip.frames[cursor.next()], this.pictureId);
          this.pictureId = nextPictureId(this.pictureId);
          payloads.forEach((payload, i) => this.transmit(this.nextPacket(payload, i === 0 ? step : 0, i === payloads.length - 1)));
          this.framesSent++;
        },
        finished: () => resolve(frames),
      });
    });
  }

  close(): void {
    if (this.ownsSocket) this.socket.close();
  }

  private transmit(datagram: Buffer[]): void {
    const send = () => this.socket.sendAndForget(datagram, this.remote.ip, this.remote.port);
    if (!this.up) return send();
    this.up.submit(
      datagram.reduce((n, b) => n + b.length, 0),
      send,
    );
  }

  private onRtcp(datagram: Buffer): void {
    const mine = parseKeyFrameRequests(datagram).filter((r) => r.mediaSsrc === this.ssrc);
    if (mine.length === 0) return;
    this.keyFrameRequestsReceived += mine.length;
    this.cursor ??= new ClipCursor(this.options.clip ?? VideoClip.load());
    this.cursor.requestKeyFrame();
    for (const listener of this.keyFrameListeners) listener();
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

/** What a receive stream needs of its transport and consumer. */
export interface ReceiveStreamSetup {
  callId: string;
  transportId: string;
  consumerId: string;
  producerId: string;
  kind: MediaKind;
  payloadType: number;
  /** The consumer's SSRC, when known (streams sharing a socket tell their packets apart by it). */
  ssrc?: number;
  socket: RtpUdpSocket;
  /** The SFU's end of the transport: where RTCP (PLI) goes. */
  remote: { ip: string; port: number };
  ownsSocket: boolean;
}

/**
 * One incoming stream over a plain RTP transport: creates the recv
 * transport, tells the SFU where to send, consumes the producer, resumes it,
 * and keeps what arrives. Audio is decoded only when asked (`frames`,
 * `checkTone`, `audioReport`), on the process's single decoder. Video is
 * reassembled as it comes and checked against the clip; a broken picture
 * makes it send PLI.
 */
export class PlainReceiveStream {
  readonly packets: RtpPacket[] = [];
  /** Every packet with its local arrival time, in arrival order. */
  readonly arrivals: ReceivedPacket[] = [];
  readonly callId: string;
  readonly transportId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: MediaKind;
  readonly payloadType: number;
  /** Video only: frames as a decoder would see them. */
  readonly video?: VideoReceiverStats;
  private readonly depacketizer?: Vp8Depacketizer;
  private readonly waiters: { count: number; resolve: () => void; frames: boolean }[] = [];
  private decodedCache?: { packets: number; frames: (Int16Array | null)[] };
  private readonly socket: RtpUdpSocket;
  private readonly remote: { ip: string; port: number };
  private readonly ssrc?: number;
  private readonly ownsSocket: boolean;
  private readonly up?: LinkImpairment;
  private readonly down?: LinkImpairment;
  private readonly rtcpSsrc = randomSsrc();
  private lastMediaSsrc?: number;
  private closed = false;
  private startupTimer?: NodeJS.Timeout;
  private readonly startupKeyFrameMs: number;

  constructor(setup: ReceiveStreamSetup, options: PlainStreamOptions = {}) {
    this.callId = setup.callId;
    this.transportId = setup.transportId;
    this.consumerId = setup.consumerId;
    this.producerId = setup.producerId;
    this.kind = setup.kind;
    this.payloadType = setup.payloadType;
    this.socket = setup.socket;
    this.remote = setup.remote;
    this.ssrc = setup.ssrc;
    this.ownsSocket = setup.ownsSocket;
    this.startupKeyFrameMs = options.startupKeyFrameMs ?? 1000;
    const leg = legImpairments(options.network, `${setup.kind}/recv`);
    this.up = leg.up;
    this.down = leg.down;
    if (this.kind === 'video') {
      this.depacketizer = new Vp8Depacketizer();
      this.video = new VideoReceiverStats(options.clip ?? VideoClip.load(), () => this.requestKeyFrame());
      this.watchStartup();
    }
    this.socket.onRtp((packet) => {
      if (packet.payloadType !== this.payloadType || (this.ssrc !== undefined && packet.ssrc !== this.ssrc)) return;
      if (this.down) this.down.submit(packet.payload.length + 12, () => this.receive(packet));
      else this.receive(packet);
    });
  }

  static async open(
    client: SocialClient,
    callId: string,
    producerId: string,
    options: PlainStreamOptions = {},
  ): Promise<PlainReceiveStream> {
    const address = options.rtpAddress ?? (await rtpAddressFor(client.baseUrl));
    return openPlainConsumer(client, callId, producerId, address, ({ socket, transport, consumer }) => {
      const rtp = consumerRtp.parse(consumer.rtpParameters);
      return new PlainReceiveStream(
        {
          callId,
          transportId: transport.transportId,
          consumerId: consumer.consumerId,
          producerId,
          kind: consumer.kind,
          payloadType: rtp.codecs[0].payloadType,
          ssrc: rtp.encodings?.[0]?.ssrc,
          socket,
          remote: transport,
          ownsSocket: true,
        },
        options,
      );
    });
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
    return this.waitFor(count, timeoutMs, false);
  }

  /** Video: resolves once `count` frames were shown (intact and decodable), or after `timeoutMs`. */
  waitForFrames(count: number, timeoutMs: number): Promise<number> {
    return this.waitFor(count, timeoutMs, true);
  }

  /** The dominant frequency of every decoded frame (null for silent frames). */
  frameFrequencies(scan?: FrequencyScan): (number | null)[] {
    return this.frames.map((frame) => dominantFrequency(frame, scan));
  }

  /** Whether this leg carried the tone the other side sent with `sendTone` (see `checkTone`). */
  checkTone(
    frequencyHz: number,
    expectedPackets: number,
    options?: ToneCheckOptions & { amplitude?: number; settings?: OpusEncoderSettings },
  ): ToneCheck {
    const tone = EncodedTone.of(frequencyHz, options?.amplitude, options?.settings);
    return checkTone(
      this.packets.map((p) => p.payload),
      tone,
      expectedPackets,
      options,
    );
  }

  /** Audio: loss before and after FEC, the tone's SNR, jitter and an E-model MOS (see analyseAudioLeg). */
  async audioReport(toneHz: number, options?: AudioAnalysisOptions): Promise<AudioLegReport> {
    if (this.kind !== 'audio') throw new Error('an audio report needs an audio stream');
    return analyseAudioLeg(this.arrivals, toneHz, options);
  }

  /** Video: frames received, intact and shown, frame rate, freezes, key frames asked for. */
  videoReport(framesSent: number): VideoLegReport {
    if (!this.video) throw new Error('a video report needs a video stream');
    return this.video.report(framesSent);
  }

  /** Sends PLI for this stream to the SFU (which asks the producer for a key frame). */
  requestKeyFrame(): void {
    const mediaSsrc = this.lastMediaSsrc ?? this.ssrc;
    if (mediaSsrc === undefined) return;
    const packet = pliPacket(this.rtcpSsrc, mediaSsrc);
    const send = () => this.socket.sendAndForget(packet, this.remote.ip, this.remote.port);
    if (this.up) this.up.submit(packet.length, send);
    else send();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.startupTimer);
    if (this.ownsSocket) this.socket.close();
  }

  /**
   * A receiver that joins a running video sees nothing until a key frame (the
   * SFU holds the rest back), and may not see one for a while: it asks with
   * PLI when no frame showed within a request interval, and again until one does.
   */
  private watchStartup(): void {
    if (this.closed || (this.video?.framesDecodable ?? 0) > 0) return;
    this.startupTimer = setTimeout(() => {
      if (this.closed || (this.video?.framesDecodable ?? 0) > 0) return;
      this.video?.requestKeyFrameNow();
      this.watchStartup();
    }, this.startupKeyFrameMs);
    this.startupTimer.unref?.();
  }

  private waitFor(count: number, timeoutMs: number, frames: boolean): Promise<number> {
    const current = () => (frames ? (this.video?.framesDecodable ?? 0) : this.packets.length);
    if (current() >= count) return Promise.resolve(current());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(current());
      }, timeoutMs);
      const waiter = {
        count,
        frames,
        resolve: () => {
          clearTimeout(timer);
          resolve(current());
        },
      };
      this.waiters.push(waiter);
    });
  }

  private decoded(): (Int16Array | null)[] {
    if (this.kind !== 'audio') return [];
    if (this.decodedCache?.packets !== this.packets.length) {
      this.decodedCache = { packets: this.packets.length, frames: decodeOpusStream(this.packets.map((p) => p.payload)) };
    }
    return this.decodedCache.frames;
  }

  private receive(packet: RtpPacket): void {
    this.packets.push(packet);
    this.arrivals.push({ packet, arrivalMs: performance.now() });
    this.lastMediaSsrc = packet.ssrc;
    if (this.depacketizer && this.video) {
      const abandonedBefore = this.depacketizer.abandoned;
      const frame = this.depacketizer.push(packet);
      if (this.depacketizer.abandoned > abandonedBefore) this.video.onLoss();
      if (frame) this.video.onFrame(frame);
    }
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      const have = waiter.frames ? (this.video?.framesDecodable ?? 0) : this.packets.length;
      if (have >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
