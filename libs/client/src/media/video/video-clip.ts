import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readIvf } from './ivf';
import { isVp8KeyFrame, parseVp8Frame } from './vp8-frame';

const CLIP_FILE = 'testsrc-320x240-15fps.ivf';

/**
 * The committed test clip (see libs/client/fixtures/make-clip.sh): 3 s of test pattern, 320x240, 15 fps, VP8.
 * In the sources it sits in libs/client/fixtures; the built package ships it beside its bundles (dist/fixtures).
 */
export const DEFAULT_CLIP_PATH =
  [path.resolve(__dirname, '../../../fixtures', CLIP_FILE), path.resolve(__dirname, 'fixtures', CLIP_FILE)].find((candidate) =>
    fs.existsSync(candidate),
  ) ?? path.resolve(__dirname, '../../../fixtures', CLIP_FILE);

const frameKey = (frame: Buffer) => crypto.createHash('sha1').update(frame).digest('hex');

/**
 * A real VP8 clip a test client plays in a loop and a receiver checks
 * against: it knows every frame's bytes, so a frame that arrives is either
 * byte for byte one of the clip's frames (intact) or not.
 */
export class VideoClip {
  private static readonly loaded = new Map<string, VideoClip>();
  readonly keyFrameIndices: number[];
  private readonly indexByKey = new Map<string, number>();

  private constructor(
    readonly frames: Buffer[],
    readonly fps: number,
    readonly width: number,
    readonly height: number,
  ) {
    if (frames.length === 0) throw new Error('a clip needs frames');
    if (!isVp8KeyFrame(frames[0])) throw new Error('a clip must start with a key frame');
    this.keyFrameIndices = frames.flatMap((frame, i) => (isVp8KeyFrame(frame) ? [i] : []));
    frames.forEach((frame, i) => {
      const key = frameKey(frame);
      if (!this.indexByKey.has(key)) this.indexByKey.set(key, i);
    });
  }

  /** Read once per process and shared (the file is small and never changes). */
  static load(file = DEFAULT_CLIP_PATH): VideoClip {
    let clip = VideoClip.loaded.get(file);
    if (!clip) {
      const ivf = readIvf(fs.readFileSync(file));
      if (ivf.fourcc !== 'VP80') throw new Error(`${path.basename(file)} holds ${ivf.fourcc}, not VP8`);
      clip = VideoClip.fromFrames(ivf.frames, ivf.fps, ivf.width, ivf.height);
      VideoClip.loaded.set(file, clip);
    }
    return clip;
  }

  static fromFrames(frames: Buffer[], fps: number, width: number, height: number): VideoClip {
    return new VideoClip(frames, fps, width, height);
  }

  get frameMs(): number {
    return 1000 / this.fps;
  }

  /** The clip's frame with exactly these bytes, if any. */
  indexOf(frame: Buffer): number | undefined {
    const index = this.indexByKey.get(frameKey(frame));
    return index !== undefined && this.frames[index].equals(frame) ? index : undefined;
  }

  /** The first key frame strictly after `index`, wrapping to the start. */
  nextKeyFrameAfter(index: number): number {
    return this.keyFrameIndices.find((k) => k > index) ?? this.keyFrameIndices[0];
  }

  /** Width and height the clip's key frames state. */
  keyFrameSize(): { width: number; height: number } {
    const info = parseVp8Frame(this.frames[0]);
    return { width: info?.width ?? 0, height: info?.height ?? 0 };
  }
}

/**
 * Which frame of the clip goes next: frames in order, looping, and after a
 * key-frame request the next key frame (frames skipped on the way are not sent).
 */
export class ClipCursor {
  private position = 0;
  private keyFrameWanted = false;
  /** Key-frame requests honoured. */
  keyFramesRequested = 0;

  constructor(readonly clip: VideoClip) {}

  requestKeyFrame(): void {
    this.keyFrameWanted = true;
    this.keyFramesRequested++;
  }

  /** The index of the frame to send now. */
  next(): number {
    if (this.keyFrameWanted) {
      this.keyFrameWanted = false;
      // Already at a key frame (the loop's start): no skip needed.
      if (!isVp8KeyFrame(this.clip.frames[this.position])) this.position = this.clip.nextKeyFrameAfter(this.position);
    }
    const index = this.position;
    this.position = (this.position + 1) % this.clip.frames.length;
    return index;
  }
}
