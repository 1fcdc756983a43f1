import { performance } from 'node:perf_hooks';
import { nextPictureId, type AssembledVp8Frame } from './vp8-rtp';
import type { VideoClip } from './video-clip';
import { parseVp8Frame } from './vp8-frame';

/** What a video receiver reports of one leg (the simulator aggregates these). */
export interface VideoLegReport {
  framesSent: number;
  framesReceived: number;
  /** Frames identical, byte for byte, to a frame of the clip. */
  framesIntact: number;
  /** Frames a decoder could show: intact and with every frame they depend on shown before. */
  framesDecodable: number;
  /** Decodable frames per second while frames came (arrival times: a late burst counts as it came). */
  fps: number;
  /** Time spent frozen: each gap between shown frames longer than `freezeGapFrames` frame intervals, less one interval. */
  freezeMs: number;
  /** Key frames this receiver asked for (PLI). */
  keyFramesRequested: number;
  keyFramesReceived: number;
  /** Size stated by the last key frame received. */
  width?: number;
  height?: number;
}

export interface VideoReceiverOptions {
  /** A gap longer than this many frame intervals counts as a freeze (default 3). */
  freezeGapFrames?: number;
  /** At most one key-frame request per this long (default 250 ms). */
  keyFrameRequestIntervalMs?: number;
  now?: () => number;
}

/**
 * Follows the frames of one video leg as a decoder would: a frame is shown
 * when it is intact and it is a key frame or follows the last shown frame
 * directly (PictureID + 1). Anything else leaves the picture broken until the
 * next key frame, and the receiver asks for one (`requestKeyFrame`).
 */
export class VideoReceiverStats {
  framesReceived = 0;
  framesIntact = 0;
  framesDecodable = 0;
  keyFramesReceived = 0;
  keyFramesRequested = 0;
  freezeMs = 0;
  width?: number;
  height?: number;
  /** Clip index of each shown frame, in order (for checks against the clip). */
  readonly shownIndices: number[] = [];
  private lastPictureId?: number;
  private decodable = false;
  private firstShownAt?: number;
  private lastShownAt?: number;
  private lastRequestAt = -Infinity;
  private readonly freezeGapFrames: number;
  private readonly requestIntervalMs: number;
  private readonly now: () => number;

  constructor(
    readonly clip: VideoClip,
    private readonly requestKeyFrame: () => void = () => undefined,
    options: VideoReceiverOptions = {},
  ) {
    this.freezeGapFrames = options.freezeGapFrames ?? 3;
    this.requestIntervalMs = options.keyFrameRequestIntervalMs ?? 250;
    this.now = options.now ?? (() => performance.now());
  }

  /** A frame the depacketizer completed. */
  onFrame(frame: AssembledVp8Frame): void {
    this.framesReceived++;
    const index = this.clip.indexOf(frame.data);
    const info = parseVp8Frame(frame.data);
    if (info?.keyFrame) {
      this.keyFramesReceived++;
      this.width = info.width;
      this.height = info.height;
    }
    if (index !== undefined) this.framesIntact++;
    const follows =
      frame.pictureId !== undefined && this.lastPictureId !== undefined && frame.pictureId === nextPictureId(this.lastPictureId);
    if (frame.pictureId !== undefined) this.lastPictureId = frame.pictureId;
    if (index !== undefined && info?.keyFrame) this.decodable = true;
    else if (index === undefined || !follows) this.decodable = false;
    if (this.decodable) this.show(index!);
    else this.askForKeyFrame();
  }

  /** Frames were lost before they could be assembled (the depacketizer gave some up): broken until a key frame. */
  onLoss(): void {
    this.decodable = false;
    this.askForKeyFrame();
  }

  report(framesSent: number): VideoLegReport {
    const spanMs = this.firstShownAt !== undefined && this.lastShownAt !== undefined ? this.lastShownAt - this.firstShownAt : 0;
    // Each shown frame stands for one frame interval: n frames over their span plus one interval.
    const fps = this.framesDecodable > 0 ? (this.framesDecodable * 1000) / (spanMs + this.clip.frameMs) : 0;
    return {
      framesSent,
      framesReceived: this.framesReceived,
      framesIntact: this.framesIntact,
      framesDecodable: this.framesDecodable,
      fps,
      freezeMs: this.freezeMs,
      keyFramesRequested: this.keyFramesRequested,
      keyFramesReceived: this.keyFramesReceived,
      width: this.width,
      height: this.height,
    };
  }

  /** Asks for a key frame now, within the request interval (a receiver that has shown nothing yet). */
  requestKeyFrameNow(): void {
    this.askForKeyFrame();
  }

  private show(index: number): void {
    const now = this.now();
    this.framesDecodable++;
    this.shownIndices.push(index);
    if (this.lastShownAt !== undefined) {
      const gap = now - this.lastShownAt;
      if (gap > this.freezeGapFrames * this.clip.frameMs) this.freezeMs += gap - this.clip.frameMs;
    }
    this.firstShownAt ??= now;
    this.lastShownAt = now;
  }

  private askForKeyFrame(): void {
    const now = this.now();
    if (now - this.lastRequestAt < this.requestIntervalMs) return;
    this.lastRequestAt = now;
    this.keyFramesRequested++;
    this.requestKeyFrame();
  }
}
