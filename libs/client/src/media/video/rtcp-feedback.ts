/**
 * The RTCP a video client needs to ask for and answer key frames: PLI (RFC
 * 4585, payload-specific feedback PT 206, FMT 1) and FIR (RFC 5104, PT 206,
 * FMT 4, the SSRC to refresh in its FCI). With rtcp-mux these arrive on the
 * RTP socket.
 */
export const RTCP_PSFB = 206;
export const PLI_FMT = 1;
export const FIR_FMT = 4;

export interface KeyFrameRequest {
  type: 'pli' | 'fir';
  senderSsrc: number;
  /** The stream asked to send a key frame. */
  mediaSsrc: number;
}

export function pliPacket(senderSsrc: number, mediaSsrc: number): Buffer {
  const packet = Buffer.alloc(12);
  packet[0] = 0x80 | PLI_FMT;
  packet[1] = RTCP_PSFB;
  packet.writeUInt16BE(2, 2); // length in 32-bit words minus one
  packet.writeUInt32BE(senderSsrc >>> 0, 4);
  packet.writeUInt32BE(mediaSsrc >>> 0, 8);
  return packet;
}

export function firPacket(senderSsrc: number, mediaSsrc: number, sequence: number): Buffer {
  const packet = Buffer.alloc(20);
  packet[0] = 0x80 | FIR_FMT;
  packet[1] = RTCP_PSFB;
  packet.writeUInt16BE(4, 2);
  packet.writeUInt32BE(senderSsrc >>> 0, 4);
  packet.writeUInt32BE(0, 8); // media SSRC unused in FIR; the FCI names it
  packet.writeUInt32BE(mediaSsrc >>> 0, 12);
  packet[16] = sequence & 0xff;
  return packet;
}

/** Every PLI and FIR entry in a (compound) RTCP datagram; anything malformed ends the walk. */
export function parseKeyFrameRequests(datagram: Buffer): KeyFrameRequest[] {
  const requests: KeyFrameRequest[] = [];
  let offset = 0;
  while (offset + 4 <= datagram.length) {
    if (datagram[offset] >> 6 !== 2) break;
    const fmt = datagram[offset] & 0x1f;
    const type = datagram[offset + 1];
    const bytes = (datagram.readUInt16BE(offset + 2) + 1) * 4;
    if (offset + bytes > datagram.length) break;
    if (type === RTCP_PSFB && bytes >= 12) {
      const senderSsrc = datagram.readUInt32BE(offset + 4);
      if (fmt === PLI_FMT) {
        requests.push({ type: 'pli', senderSsrc, mediaSsrc: datagram.readUInt32BE(offset + 8) });
      } else if (fmt === FIR_FMT) {
        for (let fci = offset + 12; fci + 8 <= offset + bytes; fci += 8) {
          requests.push({ type: 'fir', senderSsrc, mediaSsrc: datagram.readUInt32BE(fci) });
        }
      }
    }
    offset += bytes;
  }
  return requests;
}
