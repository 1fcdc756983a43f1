import crypto from 'node:crypto';

/** Payload types this client uses; the SFU maps them to its own on the way through. */
export const OPUS_PAYLOAD_TYPE = 100;
export const VP8_PAYLOAD_TYPE = 101;

const OPUS = { mimeType: 'audio/opus', clockRate: 48_000, channels: 2, parameters: { useinbandfec: 1, usedtx: 1 } };
const VP8 = { mimeType: 'video/VP8', clockRate: 90_000, parameters: {} };
/** Key-frame requests a video client sends and answers (the SFU forwards them to the producer only when it declared them). */
const KEY_FRAME_FEEDBACK = [
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** What a plain-RTP client can receive: Opus and VP8, no header extensions; PLI and FIR for video. */
export const PLAIN_RTP_CAPABILITIES = {
  codecs: [
    { kind: 'audio', preferredPayloadType: OPUS_PAYLOAD_TYPE, rtcpFeedback: [], ...OPUS },
    { kind: 'video', preferredPayloadType: VP8_PAYLOAD_TYPE, rtcpFeedback: KEY_FRAME_FEEDBACK, ...VP8 },
  ],
  headerExtensions: [],
};

export function randomSsrc(): number {
  return crypto.randomBytes(4).readUInt32BE(0) || 1;
}

/** media:produce's rtpParameters for one plain RTP stream of the given kind. */
export function plainRtpParameters(kind: 'audio' | 'video', ssrc: number) {
  const codec =
    kind === 'audio'
      ? { payloadType: OPUS_PAYLOAD_TYPE, rtcpFeedback: [], ...OPUS }
      : { payloadType: VP8_PAYLOAD_TYPE, rtcpFeedback: KEY_FRAME_FEEDBACK, ...VP8 };
  return {
    codecs: [codec],
    encodings: [{ ssrc }],
    rtcp: { cname: `plain-${ssrc.toString(16)}`, reducedSize: true },
  };
}
