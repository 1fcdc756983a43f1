/**
 * IVF, the simple container libvpx and ffmpeg write VP8 into: a 32-byte file
 * header (DKIF, fourcc, size, frame rate) and then frames, each behind a
 * 12-byte header (4-byte size, 8-byte presentation timestamp).
 */
export interface IvfFile {
  fourcc: string;
  width: number;
  height: number;
  /** Frames per second as the header states it (rate / scale). */
  fps: number;
  frames: Buffer[];
}

const FILE_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 12;

export function readIvf(file: Buffer): IvfFile {
  if (file.length < FILE_HEADER_BYTES || file.toString('latin1', 0, 4) !== 'DKIF') throw new Error('not an IVF file (no DKIF signature)');
  const headerBytes = file.readUInt16LE(6);
  const fourcc = file.toString('latin1', 8, 12);
  const width = file.readUInt16LE(12);
  const height = file.readUInt16LE(14);
  const rate = file.readUInt32LE(16);
  const scale = file.readUInt32LE(20);
  const frames: Buffer[] = [];
  let offset = Math.max(headerBytes, FILE_HEADER_BYTES);
  while (offset + FRAME_HEADER_BYTES <= file.length) {
    const size = file.readUInt32LE(offset);
    const start = offset + FRAME_HEADER_BYTES;
    if (start + size > file.length) throw new Error(`IVF frame ${frames.length} is cut short`);
    frames.push(file.subarray(start, start + size));
    offset = start + size;
  }
  return { fourcc, width, height, fps: scale > 0 ? rate / scale : 0, frames };
}
