/**
 * The shapes the server sends, as zod schemas: the protocol catalog's
 * results and pushes are built from them, the published documents (AsyncAPI,
 * OpenAPI) are generated from them, and the DTO types of models.ts are
 * inferred from them, so there is no second declaration to drift.
 */
import { z } from 'zod';
import { callEndReason, callState, legDirection, mediaKind, messageKind, nodeRole } from './enums';
import { ERROR_CODES } from './errors';

const isoTime = z.string().datetime({ offset: true }).describe('ISO-8601 time in UTC');
const id = z.string().uuid();
const legDirectionField = legDirection.describe('up: user to SFU (a producer); down: SFU to user (a consumer)');

export const userDto = z.object({ id, handle: z.string(), displayName: z.string() });

export const contactDto = z.object({ user: userDto, favorite: z.boolean(), mutual: z.boolean(), addedAt: isoTime });

export const messageDto = z.object({
  id,
  conversationId: id,
  senderId: id,
  recipientId: id,
  seq: z.number().int().min(1),
  body: z.string(),
  clientMsgId: id,
  createdAt: isoTime,
  /** `call` for the entry a finished call leaves in the conversation. */
  kind: messageKind,
  callId: id.optional(),
});

export const conversationDto = z.object({
  id,
  peer: userDto,
  lastMessage: messageDto.nullable(),
  unread: z.number().int().min(0),
});

/** One producer (`up`) or consumer (`down`) over the last interval, as the SFU measured it. */
export const callQualityLeg = z.object({
  userId: id,
  direction: legDirectionField,
  kind: mediaKind,
  bitrateBps: z.number().min(0),
  packets: z.number().int().min(0),
  packetsLost: z.number().int().min(0),
  lossRatio: z.number().min(0).max(1),
  jitterMs: z.number().min(0),
  rttMs: z.number().min(0).optional(),
  score: z.number().min(0).max(10).optional(),
});

/** `call:quality`: pushed to each participant every CALL_QUALITY_INTERVAL_MS while the call is active. */
export const callQuality = z.object({ callId: id, at: isoTime, legs: z.array(callQualityLeg).max(16) });

/** One leg of a finished call, summed (bytes, packets) or summarised (percentiles, means) over the call. */
export const mediaStatsLeg = z.object({
  userId: id,
  direction: legDirectionField,
  kind: mediaKind,
  bytes: z.number().int().min(0),
  packets: z.number().int().min(0),
  packetsLost: z.number().int().min(0),
  lossRatio: z.number().min(0).max(1),
  jitterMsP50: z.number().min(0),
  jitterMsP95: z.number().min(0),
  bitrateBpsMean: z.number().min(0),
  scoreMin: z.number().min(0).max(10).optional(),
  scoreMean: z.number().min(0).max(10).optional(),
});

/** A finished call's media: one leg per participant, direction and kind, whatever the clients did (at most 8 legs). */
export const mediaStats = z.object({ sampledSeconds: z.number().min(0), legs: z.array(mediaStatsLeg).max(8) });

export const callDto = z.object({
  id,
  callerId: id,
  calleeId: id,
  media: mediaKind,
  state: callState,
  createdAt: isoTime,
  answeredAt: isoTime.optional(),
  endedAt: isoTime.optional(),
  endReason: callEndReason.optional(),
  maxEndsAt: isoTime.optional(),
  /** Seconds between answer and end, for ended calls that were answered. */
  durationSeconds: z.number().int().min(0).optional(),
  /** The participant whose action (or lost connection) ended the call; absent when a timer or the server ended it. */
  endedById: id.optional(),
  /** In the call history (GET /calls) of ended calls: media statistics gathered at the end, or null. */
  mediaStats: mediaStats.nullable().optional(),
});

/** One of the server's ICE candidates (mediasoup's fields; more may come). */
const iceCandidate = z
  .object({
    foundation: z.string(),
    priority: z.number(),
    ip: z.string(),
    protocol: z.enum(['udp', 'tcp']),
    port: z.number().int(),
    type: z.string(),
    tcpType: z.string().optional(),
  })
  .passthrough();

/** What `media:create-transport` answers, and a transport in `media:join`'s answer. */
export const webRtcTransportInfo = z.object({
  transportId: z.string(),
  iceParameters: z.record(z.string(), z.unknown()),
  iceCandidates: z.array(iceCandidate),
  dtlsParameters: z.record(z.string(), z.unknown()),
});
export const plainTransportInfo = z.object({
  transportId: z.string(),
  ip: z.string(),
  port: z.number().int(),
  rtcpPort: z.number().int().optional(),
});
export const transportInfo = z.union([webRtcTransportInfo, plainTransportInfo]);

/** A live producer of the other participant (`media:capabilities`' `producers`). */
export const producerSummary = z.object({ producerId: z.string(), userId: id, kind: mediaKind });

/** What `media:consume` answers; in `media:join`, already resumed. */
export const consumerInfo = z.object({
  consumerId: z.string(),
  producerId: z.string(),
  kind: mediaKind,
  rtpParameters: z.record(z.string(), z.unknown()),
});

/** `media:join`'s answer (and `call:accept`'s `media`). */
export const mediaJoinResult = z.object({
  rtpCapabilities: z.record(z.string(), z.unknown()),
  producers: z.array(producerSummary),
  send: z.intersection(transportInfo, z.object({ producers: z.array(z.object({ kind: mediaKind, producerId: z.string() })) })).optional(),
  recv: transportInfo.optional(),
  consumers: z.array(consumerInfo),
});

/** `media:consumer-added`: a producer of the other participant consumed for you, resumed. */
export const consumerAdded = consumerInfo.extend({ callId: id });

/** One user's record of a flag's value: first and last time it decided something, and how often. */
export const exposureDto = z.object({
  userId: id,
  value: z.boolean(),
  firstAt: isoTime,
  lastAt: isoTime,
  count: z.number().int().min(1),
});

/** Per kind: the means of the variant's calls' `mediaStats` legs. */
export const variantQuality = z.object({
  kind: mediaKind,
  legs: z.number().int().min(0),
  lossRatioMean: z.number().min(0).max(1),
  jitterMsP50Mean: z.number().min(0),
  jitterMsP95Mean: z.number().min(0),
  bitrateBpsMean: z.number().min(0),
  bytesPerMinuteMean: z.number().min(0),
  scoreMean: z.number().min(0).max(10).optional(),
});

export const flagReportVariant = z.object({
  value: z.boolean(),
  users: z.number().int().min(0),
  calls: z.object({
    attempted: z.number().int().min(0),
    refused: z.number().int().min(0),
    answered: z.number().int().min(0),
    durationSecondsMean: z.number().min(0).nullable(),
    setupMsP50: z.number().min(0).nullable(),
    quality: z.array(variantQuality),
  }),
});

export const flagReport = z.object({
  key: z.string(),
  since: isoTime.nullable(),
  variants: z.array(flagReportVariant),
});

export type CallQualityLegDto = z.infer<typeof callQualityLeg>;
export type CallQualityDto = z.infer<typeof callQuality>;
export type MediaStatsLegDto = z.infer<typeof mediaStatsLeg>;
export type MediaStatsDto = z.infer<typeof mediaStats>;
export type TransportInfoDto = z.infer<typeof transportInfo>;
export type ProducerSummaryDto = z.infer<typeof producerSummary>;
export type ConsumerInfoDto = z.infer<typeof consumerInfo>;
export type MediaJoinResultDto = z.infer<typeof mediaJoinResult>;
export type ConsumerAddedDto = z.infer<typeof consumerAdded>;
export type ExposureDto = z.infer<typeof exposureDto>;
export type VariantQualityDto = z.infer<typeof variantQuality>;
export type FlagReportVariantDto = z.infer<typeof flagReportVariant>;
export type FlagReportDto = z.infer<typeof flagReport>;

const flagSettings = z.object({
  key: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  rolloutPercent: z.number().int().min(0).max(100),
  allowUserIds: z.array(id),
  denyUserIds: z.array(id),
});

export const flagDefinitionDto = flagSettings.extend({ updatedAt: isoTime });

export const flagAuditEntryDto = z.object({
  at: isoTime,
  actor: z.string(),
  before: flagSettings.nullable(),
  after: flagSettings,
});

export const evaluatedFlags = z.object({ video_call: z.boolean() }).catchall(z.boolean());

export const healthDto = z.object({
  status: z.enum(['ok', 'degraded']),
  /** `unused` on a media node (NODE_ROLE=media), which needs no database. */
  db: z.enum(['up', 'down', 'unused']),
  /** This process's workers where it is a media node; otherwise whether any media node is alive. */
  media: z.enum(['up', 'down']),
  role: nodeRole.optional(),
  /** This process's media node id, where it is one. */
  nodeId: z.string().optional(),
  /** Media nodes alive now (their heartbeats), as this process sees them. */
  mediaNodes: z.number().int().min(0).optional(),
  workers: z
    .array(z.object({ pid: z.number().int(), alive: z.boolean(), routers: z.number().int(), webRtcPort: z.number().int().optional() }))
    .optional(),
});

export const livenessDto = z.object({ status: z.literal('ok') });

export const readinessDto = z.object({
  ready: z.boolean(),
  db: z.enum(['up', 'down', 'unknown']),
  draining: z.boolean(),
  /** With REDIS_URL: whether the connections the process needs to reach the others (the socket.io adapter's) are up. */
  redis: z.enum(['up', 'down']).optional(),
});

export const errorBody = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const httpError = z.object({ error: errorBody });

export const empty = z.object({}).strict();

/** A socket acknowledgement carrying `data` on success. */
export function ackOf<T extends z.ZodTypeAny>(data: T) {
  return z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), data }), z.object({ ok: z.literal(false), error: errorBody })]);
}
