import type { types as ms } from 'mediasoup';
import type { CallMedia } from '@app/contracts';

/**
 * Opus tuned for weak networks: in-band FEC lets a receiver rebuild a lost
 * frame from the next one, DTX stops sending during silence.
 */
export const OPUS_CODEC: ms.RtpCodecCapability = {
  kind: 'audio',
  mimeType: 'audio/opus',
  clockRate: 48000,
  channels: 2,
  parameters: { useinbandfec: 1, usedtx: 1 },
};

export const VP8_CODEC: ms.RtpCodecCapability = {
  kind: 'video',
  mimeType: 'video/VP8',
  clockRate: 90000,
  parameters: {},
};

export const H264_CODEC: ms.RtpCodecCapability = {
  kind: 'video',
  mimeType: 'video/H264',
  clockRate: 90000,
  parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
};

/** What a call's router offers: audio calls never negotiate a video codec. */
export function routerCodecsFor(media: CallMedia): ms.RtpCodecCapability[] {
  return media === 'video' ? [OPUS_CODEC, VP8_CODEC, H264_CODEC] : [OPUS_CODEC];
}
