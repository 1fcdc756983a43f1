/**
 * A checkable VP8 stream for the experiment's video legs: every frame is
 * split into RTP payloads that parse as VP8 (RFC 7741 descriptor with a
 * 15-bit PictureID, a key-frame tag with the start code and size on a key
 * frame's first packet) and carry a trailer naming the frame, the packet
 * and the packet count, with a fill pattern derived from them, so the
 * receiver can tell which frames arrived whole and unaltered.
 */
export interface VideoFrame {
  keyFrame: boolean;
  payloads: Buffer[];
}

/** What a video sender needs: frames at a fixed rate. */
export interface VideoFrameSource {
  readonly fps: number;
  frame(n: number): VideoFrame;
}

export interface SyntheticVideoOptions {
  fps: number;
  /** A key frame every this many frames (the receiver recovers from a loss at the next one). */
  keyFrameInterval: number;
  keyFrameBytes: number;
  deltaFrameBytes: number;
  /** Largest RTP payload. */
  maxPayloadBytes: number;
  width: number;
  height: number;
}

export const DEFAULT_VIDEO: SyntheticVideoOptions = {
  fps: 15,
  keyFrameInterval: 30,
  keyFrameBytes: 28_000,
  deltaFrameBytes: 8000,
  maxPayloadBytes: 1100,
  width: 320,
  height: 240,
};

const TRAILER_BYTES = 9;
const TRAILER_MAGIC = 0xe7;

export class SyntheticVideoSource implements VideoFrameSource {
  readonly fps: number;

  constructor(private readonly options: SyntheticVideoOptions = DEFAULT_VIDEO) {
    this.fps = options.fps;
  }

  frame(n: number): VideoFrame {
    const o = this.options;
    const keyFrame = n % o.keyFrameInterval === 0;
    const size = keyFrame ? o.keyFrameBytes : o.deltaFrameBytes;
    const count = Math.max(1, Math.ceil(size / o.maxPayloadBytes));
    const per = Math.ceil(size / count);
    const pictureId = n & 0x7fff;
    const payloads: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const p = Buffer.alloc(per);
      p[0] = i === 0 ? 0x90 : 0x80; // X=1, S on the first packet, partition 0
      p[1] = 0x80; // I=1: a PictureID follows
      p[2] = 0x80 | ((pictureId >> 8) & 0x7f);
      p[3] = pictureId & 0xff;
      let at = 4;
      if (i === 0) {
        // Frame tag: bit 0 clear = key frame; show_frame set.
        p[at++] = keyFrame ? 0x10 : 0x11;
        p[at++] = 0;
        p[at++] = 0;
        if (keyFrame) {
          p[at++] = 0x9d;
          p[at++] = 0x01;
          p[at++] = 0x2a;
          p.writeUInt16LE(o.width & 0x3fff, at);
          p.writeUInt16LE(o.height & 0x3fff, at + 2);
          at += 4;
        }
      }
      const end = per - TRAILER_BYTES;
      for (let k = at; k < end; k++) p[k] = fillByte(n, i, k);
      p[end] = TRAILER_MAGIC;
      p.writeUInt32BE(n >>> 0, end + 1);
      p.writeUInt16BE(i, end + 5);
      p.writeUInt16BE(count, end + 7);
      payloads.push(p);
    }
    return { keyFrame, payloads };
  }
}

function fillByte(frame: number, packet: number, offset: number): number {
  return (frame * 31 + packet * 7 + offset) & 0xff;
}

interface FrameParts {
  keyFrame: boolean;
  count: number;
  got: Set<number>;
  corrupt: boolean;
}

export interface VideoReceiveSummary {
  /** Frames with at least one packet received. */
  framesSeen: number;
  /** Frames whose every packet arrived unaltered. */
  framesIntact: number;
  /** Intact frames a decoder could show: a key frame, or a delta frame whose chain back to a key frame is whole. */
  framesDecodable: number;
  /** Time the picture stood still beyond one frame interval, from the first decodable frame to the last frame seen, ms. */
  freezeMs: number;
  /** Payloads that failed the fill-pattern check. */
  corruptPackets: number;
  firstFrame?: number;
  lastFrame?: number;
}

/** Gathers a video leg's payloads and judges its frames. */
export class VideoFrameChecker {
  private readonly frames = new Map<number, FrameParts>();
  private corruptPackets = 0;

  constructor(private readonly fps: number) {}

  add(payload: Buffer): void {
    if (payload.length < TRAILER_BYTES + 4) return void this.corruptPackets++;
    const end = payload.length - TRAILER_BYTES;
    if (payload[end] !== TRAILER_MAGIC) return void this.corruptPackets++;
    const n = payload.readUInt32BE(end + 1);
    const i = payload.readUInt16BE(end + 5);
    const count = payload.readUInt16BE(end + 7);
    let parts = this.frames.get(n);
    if (!parts) this.frames.set(n, (parts = { keyFrame: false, count, got: new Set(), corrupt: false }));
    let at = 4;
    if (i === 0) {
      parts.keyFrame = (payload[4] & 0x01) === 0;
      at = parts.keyFrame ? 14 : 7;
    }
    for (let k = at; k < end; k++) {
      if (payload[k] !== fillByte(n, i, k)) {
        parts.corrupt = true;
        this.corruptPackets++;
        break;
      }
    }
    parts.got.add(i);
  }

  summary(): VideoReceiveSummary {
    const numbers = [...this.frames.keys()].sort((a, b) => a - b);
    let intact = 0;
    let decodable = 0;
    let freezeMs = 0;
    let chainWhole = false;
    let lastShown: number | undefined;
    const interval = 1000 / this.fps;
    for (const n of numbers.length ? range(numbers[0], numbers[numbers.length - 1]) : []) {
      const parts = this.frames.get(n);
      const whole = parts !== undefined && !parts.corrupt && parts.got.size === parts.count;
      if (whole) intact++;
      // A delta frame decodes only on top of a whole chain since the last key frame.
      chainWhole = whole && (parts!.keyFrame || chainWhole);
      if (chainWhole) {
        decodable++;
        if (lastShown !== undefined && n - lastShown > 1) freezeMs += (n - lastShown - 1) * interval;
        lastShown = n;
      }
    }
    // Frames that came after the last one shown froze the picture too.
    const last = numbers[numbers.length - 1];
    if (lastShown !== undefined && last > lastShown) freezeMs += (last - lastShown) * interval;
    return {
      framesSeen: this.frames.size,
      framesIntact: intact,
      framesDecodable: decodable,
      freezeMs: Math.round(freezeMs),
      corruptPackets: this.corruptPackets,
      firstFrame: numbers[0],
      lastFrame: numbers[numbers.length - 1],
    };
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
