import type { CallDto } from '@app/contracts';
import { RemoteTrack, SocialClient, WebRtcCall } from '@app/client/browser';

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
  /** How this call's media was set up (always media:join with the SDK's WebRtcCall). */
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

/**
 * The page's side of one active call: the SDK's WebRtcCall (media:join,
 * DTLS, producing the microphone and camera, consuming the other side,
 * starting again on media:restart) wired to the page's audio and video
 * elements and call log.
 */
export class CallMedia {
  private media?: WebRtcCall;
  private closed = false;
  private muted = false;
  private negotiation: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: SocialClient,
    readonly call: CallDto,
    private readonly out: CallMediaOutputs,
    private readonly onNote: (text: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    const wantsVideo = this.call.media === 'video';
    const media = await WebRtcCall.create(this.client, this.call.id, { constraints: { audio: true, video: wantsVideo } });
    if (this.closed) return media.close();
    this.media = media;
    if (wantsVideo) {
      this.out.localVideo.srcObject = new MediaStream(media.localStream.getVideoTracks());
      this.out.localVideo.hidden = false;
      this.out.localVideo.play().catch(() => undefined);
    }
    media.on('track', (remote) => this.show(remote));
    media.on('track-ended', ({ kind }) => {
      if (kind === 'video') this.out.remoteVideo.hidden = true;
    });
    media.on('restart', ({ reason }) => {
      this.onNote(`Call media moved (${reason}); reconnecting…`);
      this.negotiation = media.ready;
    });
    media.on('ready', ({ restarts }) => {
      if (restarts > 0) this.onNote(`Call media back after restart ${restarts}`);
    });
    media.on('error', ({ error }) =>
      this.onNote(`Call media could not reconnect: ${error instanceof Error ? error.message : String(error)}`),
    );
    if (this.muted) media.setMuted(true);
    this.negotiation = media.start();
    await this.negotiation;
  }

  /** Resolves once media flows in the latest room (after start or the latest restart). */
  get negotiated(): Promise<void> {
    return this.negotiation;
  }

  /** media:restart events heard in this call. */
  get restarts(): number {
    return this.media?.restarts ?? 0;
  }

  /** Set-ups of this call done with media:join (1, plus one per restart). */
  get joins(): number {
    return this.media?.joins ?? 0;
  }

  /** media:capabilities requests of this call (only while the page has learnt none). */
  get capabilityRequests(): number {
    return this.media?.capabilityRequests ?? 0;
  }

  get isMuted(): boolean {
    return this.muted;
  }

  /** Mutes or unmutes the microphone (kept across a late start and restarts). */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.media?.setMuted(muted);
  }

  async stats(): Promise<CallMediaStats> {
    const result: CallMediaStats = {
      audioBytesReceived: 0,
      audioBytesSent: 0,
      videoFramesDecoded: 0,
      videoBytesReceived: 0,
      videoFramesEncoded: 0,
      setup: 'join',
    };
    const { send, recv } = (await this.media?.stats()) ?? {};
    for (const report of reportsOf(recv)) {
      if (report.type !== 'inbound-rtp') continue;
      if (report.kind === 'audio') result.audioBytesReceived += numberOf(report.bytesReceived);
      if (report.kind === 'video') {
        result.videoFramesDecoded += numberOf(report.framesDecoded);
        result.videoBytesReceived += numberOf(report.bytesReceived);
        if (typeof report.frameWidth === 'number') result.videoFrameWidth = report.frameWidth;
        if (typeof report.frameHeight === 'number') result.videoFrameHeight = report.frameHeight;
      }
    }
    for (const report of reportsOf(send)) {
      if (report.type !== 'outbound-rtp') continue;
      if (report.kind === 'audio') result.audioBytesSent += numberOf(report.bytesSent);
      if (report.kind === 'video') result.videoFramesEncoded += numberOf(report.framesEncoded);
    }
    return result;
  }

  /** Safe to call twice. */
  close(): void {
    this.closed = true;
    this.media?.close();
    this.out.audio.srcObject = null;
    this.out.remoteVideo.srcObject = null;
    this.out.remoteVideo.hidden = true;
    this.out.localVideo.srcObject = null;
    this.out.localVideo.hidden = true;
  }

  private show({ kind, track }: RemoteTrack): void {
    const element = kind === 'audio' ? this.out.audio : this.out.remoteVideo;
    element.srcObject = new MediaStream([track]);
    if (kind === 'video') this.out.remoteVideo.hidden = false;
    element.play().catch(() => undefined);
  }
}

/** A WebRTC statistics report: the fields read here, each of unknown type until checked. */
interface StatsReport {
  type: string;
  kind?: unknown;
  [field: string]: unknown;
}

function reportsOf(stats: RTCStatsReport | undefined): StatsReport[] {
  const reports: StatsReport[] = [];
  stats?.forEach((report: StatsReport) => reports.push(report));
  return reports;
}

function numberOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
