/**
 * What a receiver can tell of a VP8 frame from its first bytes (RFC 6386
 * section 9.1): the 3-byte frame tag (bit 0 clear: key frame) and, in a key
 * frame, the start code 9d 01 2a then width and height, 14 bits each,
 * little-endian, the top 2 bits of each being the scaling.
 */
export interface Vp8FrameInfo {
  keyFrame: boolean;
  width?: number;
  height?: number;
}

export const VP8_START_CODE = Buffer.from([0x9d, 0x01, 0x2a]);

export function isVp8KeyFrame(frame: Buffer): boolean {
  return frame.length > 0 && (frame[0] & 0x01) === 0;
}

/** Null when the bytes cannot be a VP8 frame (empty, or a key frame without its start code). */
export function parseVp8Frame(frame: Buffer): Vp8FrameInfo | null {
  if (frame.length < 3) return null;
  if (!isVp8KeyFrame(frame)) return { keyFrame: false };
  if (frame.length < 10 || !frame.subarray(3, 6).equals(VP8_START_CODE)) return null;
  return { keyFrame: true, width: frame.readUInt16LE(6) & 0x3fff, height: frame.readUInt16LE(8) & 0x3fff };
}
