/** RTP (RFC 3550) as a plain-RTP client needs it: a fixed header out, any header in. */
export interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Buffer;
}

const RTP_VERSION = 2;
const FIXED_HEADER_BYTES = 12;

export function serializeRtp(packet: RtpPacket): Buffer {
  return Buffer.concat([rtpHeader(packet), packet.payload]);
}

/** The fixed header alone, to send beside the payload without copying it. */
export function rtpHeader(packet: Omit<RtpPacket, 'payload'>): Buffer {
  const header = Buffer.alloc(FIXED_HEADER_BYTES);
  header[0] = RTP_VERSION << 6;
  header[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  header.writeUInt16BE(packet.sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(packet.timestamp >>> 0, 4);
  header.writeUInt32BE(packet.ssrc >>> 0, 8);
  return header;
}

/** RTCP shares the port when rtcp-mux is on; its packet types 192-223 sit where RTP has M+PT. */
export function isRtcp(datagram: Buffer): boolean {
  return datagram.length >= 2 && datagram[1] >= 192 && datagram[1] <= 223;
}

/** Null for anything that is not a well-formed RTP packet (RTCP, garbage, truncated). */
export function parseRtp(datagram: Buffer): RtpPacket | null {
  if (datagram.length < FIXED_HEADER_BYTES || datagram[0] >> 6 !== RTP_VERSION || isRtcp(datagram)) return null;
  const padding = (datagram[0] & 0x20) !== 0;
  const hasExtension = (datagram[0] & 0x10) !== 0;
  const csrcCount = datagram[0] & 0x0f;
  let offset = FIXED_HEADER_BYTES + csrcCount * 4;
  if (hasExtension) {
    if (datagram.length < offset + 4) return null;
    offset += 4 + datagram.readUInt16BE(offset + 2) * 4;
  }
  let end = datagram.length;
  if (padding) end -= datagram[datagram.length - 1];
  if (offset > end) return null;
  return {
    marker: (datagram[1] & 0x80) !== 0,
    payloadType: datagram[1] & 0x7f,
    sequenceNumber: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, end),
  };
}
