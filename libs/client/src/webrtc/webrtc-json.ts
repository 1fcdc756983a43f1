/**
 * The protocol hands mediasoup's JSON through as data (RTP capabilities and
 * parameters, ICE and DTLS parameters: `Record<string, unknown>` in the
 * contracts). mediasoup-client wants its own precise types. These schemas
 * check the JSON at that boundary and produce those types, so nothing is
 * cast: JSON mediasoup-client could not use fails here, with a message,
 * rather than deep inside the library.
 */
import { z } from 'zod';
import type { types } from 'mediasoup-client';
import type { ConsumerInfoDto, TransportInfoDto } from '@app/contracts';

const mediaKind = z.enum(['audio', 'video']);

/** The header extensions this mediasoup-client knows; others are of no use to it and are left out. */
const HEADER_EXTENSION_URIS: readonly types.RtpHeaderExtensionUri[] = [
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension',
  'urn:3gpp:video-orientation',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'urn:mediasoup:params:rtp-hdrext:packet-id',
];

function isKnownUri(uri: string): uri is types.RtpHeaderExtensionUri {
  return HEADER_EXTENSION_URIS.some((known) => known === uri);
}

const knownUri = z.string().refine(isKnownUri, 'an RTP header extension this client does not know');

/** Items that parse, the rest left out (a newer server may offer what this client cannot use). */
function usable<T extends z.ZodTypeAny>(item: T) {
  return z.array(z.unknown()).transform((items) =>
    items.flatMap((raw): z.output<T>[] => {
      const parsed = item.safeParse(raw);
      return parsed.success ? [parsed.data] : [];
    }),
  );
}

const codecParameters = z.record(z.string(), z.unknown());
const rtcpFeedback = z.object({ type: z.string(), parameter: z.string().optional() });

const rtpCodecCapability = z.object({
  kind: mediaKind,
  mimeType: z.string(),
  preferredPayloadType: z.number().int(),
  clockRate: z.number().int(),
  channels: z.number().int().optional(),
  parameters: codecParameters.optional(),
  rtcpFeedback: z.array(rtcpFeedback).optional(),
});

const rtpHeaderExtension = z.object({
  kind: mediaKind,
  uri: knownUri,
  preferredId: z.number().int(),
  preferredEncrypt: z.boolean().optional(),
  direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
});

const rtpCapabilities = z.object({
  codecs: z.array(rtpCodecCapability).optional(),
  headerExtensions: usable(rtpHeaderExtension).optional(),
});

const rtpParameters = z.object({
  mid: z.string().optional(),
  codecs: z.array(
    z.object({
      mimeType: z.string(),
      payloadType: z.number().int(),
      clockRate: z.number().int(),
      channels: z.number().int().optional(),
      parameters: codecParameters.optional(),
      rtcpFeedback: z.array(rtcpFeedback).optional(),
    }),
  ),
  headerExtensions: usable(
    z.object({
      uri: knownUri,
      id: z.number().int(),
      encrypt: z.boolean().optional(),
      parameters: codecParameters.optional(),
    }),
  ).optional(),
  encodings: z
    .array(
      z.object({
        active: z.boolean().optional(),
        ssrc: z.number().int().optional(),
        rid: z.string().optional(),
        codecPayloadType: z.number().int().optional(),
        rtx: z.object({ ssrc: z.number().int() }).optional(),
        dtx: z.boolean().optional(),
        scalabilityMode: z.string().optional(),
        scaleResolutionDownBy: z.number().optional(),
        maxBitrate: z.number().optional(),
        maxFramerate: z.number().optional(),
      }),
    )
    .optional(),
  rtcp: z.object({ cname: z.string().optional(), reducedSize: z.boolean().optional(), mux: z.boolean().optional() }).optional(),
});

const webRtcTransport = z.object({
  transportId: z.string(),
  iceParameters: z.object({ usernameFragment: z.string(), password: z.string(), iceLite: z.boolean().optional() }),
  iceCandidates: z.array(
    z
      .object({
        foundation: z.string(),
        priority: z.number(),
        ip: z.string(),
        address: z.string().optional(),
        protocol: z.enum(['udp', 'tcp']),
        port: z.number().int(),
        type: z.enum(['host', 'srflx', 'prflx', 'relay']),
        tcpType: z.enum(['active', 'passive', 'so']).optional(),
      })
      // mediasoup 3.12 names the address `ip` only; mediasoup-client reads `address` too.
      .transform((c) => ({ ...c, address: c.address ?? c.ip })),
  ),
  dtlsParameters: z.object({
    role: z.enum(['auto', 'client', 'server']).optional(),
    fingerprints: z.array(z.object({ algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']), value: z.string() })),
  }),
});

function parse<T extends z.ZodTypeAny>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`the server's ${what} are not usable here: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

/** The router's capabilities, for `Device.load`. */
export function routerCapabilities(json: Record<string, unknown>): types.RtpCapabilities {
  return parse(rtpCapabilities, json, 'RTP capabilities');
}

/** A transport of the answer as `createSendTransport`/`createRecvTransport` options (WebRTC only). */
export function transportOptions(info: TransportInfoDto): types.TransportOptions {
  const { transportId, ...rest } = parse(webRtcTransport, info, 'WebRTC transport parameters');
  return { id: transportId, ...rest };
}

/** A consumer of the answer (or of `media:consumer-added`) as `Transport.consume` options. */
export function consumerOptions(info: ConsumerInfoDto): types.ConsumerOptions {
  return {
    id: info.consumerId,
    producerId: info.producerId,
    kind: info.kind,
    rtpParameters: parse(rtpParameters, info.rtpParameters, 'RTP parameters'),
  };
}
