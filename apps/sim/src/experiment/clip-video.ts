import fs from 'node:fs';
import path from 'node:path';
import { ClipCursor, nextPictureId, packetizeVp8, VideoClip } from '@app/client';

/**
 * The experiment's video: a real VP8 clip at about what a video call sends
 * (640x480, 15 fps, 1 Mbit/s; fixtures/make-clip.sh makes it), played in a
 * loop. The SDK's own clip is kept small for quick checks.
 */
export const EXPERIMENT_CLIP_PATH = findUp(path.join('apps', 'sim', 'fixtures', 'testsrc2-640x480-15fps-1mbps.ivf'));

/** From the sources or from a build (dist/apps/sim/...), which does not copy the fixtures: the first ancestor holding it. */
function findUp(relative: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '../../fixtures', path.basename(relative));
  }
}

export function loadExperimentClip(file = EXPERIMENT_CLIP_PATH): VideoClip {
  return VideoClip.load(file);
}

/** One sender's place in the clip: frames in order, skipping to the next key frame when asked (PLI/FIR). */
export class ClipSender {
  private readonly cursor: ClipCursor;
  private pictureId = Math.floor(Math.random() * 0x7fff);

  constructor(readonly clip: VideoClip) {
    this.cursor = new ClipCursor(clip);
  }

  get keyFramesRequested(): number {
    return this.cursor.keyFramesRequested;
  }

  requestKeyFrame(): void {
    this.cursor.requestKeyFrame();
  }

  /** The RTP payloads of the next frame. */
  nextFrame(): Buffer[] {
    const payloads = packetizeVp8(this.clip.frames[this.cursor.next()], this.pictureId);
    this.pictureId = nextPictureId(this.pictureId);
    return payloads;
  }
}

/** Payloads of frame `n` of the loop, with no state: for senders that never get a key-frame request. */
export function clipFramePayloads(clip: VideoClip, n: number): Buffer[] {
  return packetizeVp8(clip.frames[n % clip.frames.length], n & 0x7fff);
}

/** Bits per second of the clip's payloads (no headers). */
export function clipBitrate(clip: VideoClip): number {
  const bytes = clip.frames.reduce((n, f) => n + f.length, 0);
  return Math.round((bytes * 8 * clip.fps) / clip.frames.length);
}
