/**
 * Superseded for sending video by PlainSendStream.sendVideo (the real clip,
 * checked frame by frame at the receiver); kept for specs that only need
 * something an SFU forwards.
 *
 * A VP8 RTP payload that carries no picture but parses as VP8: the payload
 * descriptor (RFC 7741: extended, start of partition 0, 15-bit PictureID;
 * SFUs need the extension to track pictures) and a frame tag marking a key
 * frame or not. Enough for an SFU to forward and count.
 */
export function syntheticVp8Payload(keyFrame: boolean, pictureId: number, bytes = 200): Buffer {
  const payload = Buffer.alloc(Math.max(bytes, 10), 0xa5);
  payload[0] = 0x90; // X=1, S=1, partition 0
  payload[1] = 0x80; // I=1: a PictureID follows
  payload[2] = 0x80 | ((pictureId >> 8) & 0x7f); // M=1: 15-bit PictureID
  payload[3] = pictureId & 0xff;
  payload[4] = keyFrame ? 0x10 : 0x11; // frame tag: bit 0 clear = key frame, show_frame set
  payload[5] = 0x00;
  payload[6] = 0x00;
  return payload;
}

/** 90 kHz clock step of one frame at `fps`. */
export const vp8TimestampStep = (fps: number) => Math.round(90_000 / fps);
