import type { RtpPacket } from '../rtp-packet';

/**
 * VP8 over RTP (RFC 7741). Each packet starts with a payload descriptor:
 * byte 0 `X R N S R PID`, then (X) byte 1 `I L T K RSV`, then (I, M=1) a
 * 15-bit PictureID. A frame is cut into packets of at most `mtu` payload
 * bytes: the first has S=1 and partition index 0, the frame's last packet
 * carries the RTP marker, and all packets of a frame share its timestamp.
 */
export const DEFAULT_VP8_MTU = 1200;
const DESCRIPTOR_BYTES = 4;
const PICTURE_ID_MASK = 0x7fff;

export interface Vp8Descriptor {
  startOfPartition: boolean;
  partitionIndex: number;
  nonReference: boolean;
  pictureId?: number;
  /** Where the VP8 bytes start in the payload. */
  headerBytes: number;
}

/** The payloads of one frame, in order; the caller sets the marker on the last. */
export function packetizeVp8(frame: Buffer, pictureId: number, mtu = DEFAULT_VP8_MTU): Buffer[] {
  const room = mtu - DESCRIPTOR_BYTES;
  if (room <= 0) throw new RangeError(`an MTU of ${mtu} leaves no room for VP8 data`);
  if (frame.length === 0) throw new RangeError('an empty VP8 frame');
  const payloads: Buffer[] = [];
  for (let offset = 0; offset < frame.length; offset += room) {
    const chunk = frame.subarray(offset, Math.min(frame.length, offset + room));
    const descriptor = Buffer.alloc(DESCRIPTOR_BYTES);
    descriptor[0] = 0x80 | (offset === 0 ? 0x10 : 0); // X=1, S on the first packet, partition 0
    descriptor[1] = 0x80; // I=1: a PictureID follows
    descriptor[2] = 0x80 | ((pictureId >> 8) & 0x7f); // M=1: 15-bit PictureID
    descriptor[3] = pictureId & 0xff;
    payloads.push(Buffer.concat([descriptor, chunk]));
  }
  return payloads;
}

/** Null for a payload too short for its own descriptor. */
export function parseVp8Descriptor(payload: Buffer): Vp8Descriptor | null {
  if (payload.length < 1) return null;
  const b0 = payload[0];
  let offset = 1;
  let pictureId: number | undefined;
  if (b0 & 0x80) {
    if (payload.length < 2) return null;
    const b1 = payload[1];
    offset = 2;
    if (b1 & 0x80) {
      if (payload.length < offset + 1) return null;
      if (payload[offset] & 0x80) {
        if (payload.length < offset + 2) return null;
        pictureId = ((payload[offset] & 0x7f) << 8) | payload[offset + 1];
        offset += 2;
      } else {
        pictureId = payload[offset] & 0x7f;
        offset += 1;
      }
    }
    if (b1 & 0x40) offset += 1; // TL0PICIDX
    if (b1 & 0x30) offset += 1; // TID/Y/KEYIDX
  }
  if (offset > payload.length) return null;
  return {
    startOfPartition: (b0 & 0x10) !== 0,
    partitionIndex: b0 & 0x07,
    nonReference: (b0 & 0x20) !== 0,
    pictureId,
    headerBytes: offset,
  };
}

export const nextPictureId = (pictureId: number) => (pictureId + 1) & PICTURE_ID_MASK;

export interface AssembledVp8Frame {
  timestamp: number;
  pictureId?: number;
  data: Buffer;
  /** Sequence number of the frame's first packet. */
  firstSequence: number;
}

interface PendingFrame {
  packets: Map<number, { payload: Buffer; descriptor: Vp8Descriptor; marker: boolean }>;
  startSequence?: number;
  endSequence?: number;
  /** Frames completed since this one's latest packet came. */
  newerCompleted: number;
}

const seqDistance = (from: number, to: number) => (to - from) & 0xffff;

/**
 * Rebuilds frames from packets in any order: packets are grouped by RTP
 * timestamp, and a frame is whole once its first packet (S=1, partition 0),
 * its marker packet and every sequence number between have arrived. A frame
 * still incomplete after `maxPendingFrames` others completed is given up
 * (its missing packet is taken as lost, not late).
 */
export class Vp8Depacketizer {
  private readonly pending = new Map<number, PendingFrame>();
  /** Frames given up incomplete (a packet never came). */
  abandoned = 0;
  /** Packets whose descriptor did not parse. */
  malformed = 0;

  constructor(private readonly maxPendingFrames = 8) {}

  /** The frame this packet completes, if it completes one. */
  push(packet: RtpPacket): AssembledVp8Frame | null {
    const descriptor = parseVp8Descriptor(packet.payload);
    if (!descriptor) {
      this.malformed++;
      return null;
    }
    let frame = this.pending.get(packet.timestamp);
    if (!frame) {
      frame = { packets: new Map(), newerCompleted: 0 };
      this.pending.set(packet.timestamp, frame);
    }
    frame.newerCompleted = 0;
    frame.packets.set(packet.sequenceNumber, { payload: packet.payload, descriptor, marker: packet.marker });
    if (descriptor.startOfPartition && descriptor.partitionIndex === 0) frame.startSequence = packet.sequenceNumber;
    if (packet.marker) frame.endSequence = packet.sequenceNumber;
    const assembled = this.tryAssemble(packet.timestamp, frame);
    if (assembled) this.ageOthers();
    else this.capPending();
    return assembled;
  }

  private tryAssemble(timestamp: number, frame: PendingFrame): AssembledVp8Frame | null {
    if (frame.startSequence === undefined || frame.endSequence === undefined) return null;
    const count = seqDistance(frame.startSequence, frame.endSequence) + 1;
    if (count > frame.packets.size) return null;
    const parts: Buffer[] = [];
    let pictureId: number | undefined;
    for (let i = 0; i < count; i++) {
      const part = frame.packets.get((frame.startSequence + i) & 0xffff);
      if (!part) return null;
      if (i === 0) pictureId = part.descriptor.pictureId;
      parts.push(part.payload.subarray(part.descriptor.headerBytes));
    }
    this.pending.delete(timestamp);
    return { timestamp, pictureId, data: Buffer.concat(parts), firstSequence: frame.startSequence };
  }

  /** When nothing completes at all, the oldest frames (in arrival order) go, so memory stays bounded. */
  private capPending(): void {
    const limit = 4 * this.maxPendingFrames;
    for (const timestamp of this.pending.keys()) {
      if (this.pending.size <= limit) return;
      this.pending.delete(timestamp);
      this.abandoned++;
    }
  }

  private ageOthers(): void {
    for (const [timestamp, frame] of this.pending) {
      if (++frame.newerCompleted > this.maxPendingFrames) {
        this.pending.delete(timestamp);
        this.abandoned++;
      }
    }
  }
}
