/**
 * One schema per payload of the protocol (docs/protocol.md). The gateway
 * validates with these; the SDK takes its parameter types from them.
 * Unknown fields are stripped, so clients may send more than is asked.
 */
import { z } from 'zod';
import { mediaKind, transportDirection, transportType } from './enums';

// The enums live in enums.ts; these names stay here for code that reads them as `schemas.*`.
export {
  MEDIA_KINDS,
  MEDIA_RESTART_REASONS,
  TRANSPORT_DIRECTIONS,
  TRANSPORT_TYPES,
  mediaKind,
  mediaRestartReason,
  transportType,
} from './enums';
export type { MediaKind, MediaRestartReason, TransportType } from './enums';

export const MAX_BODY_CHARS = 4000;
export const MAX_PAGE = 100;
/** No single ack or HTTP page is larger than this (JSON bytes); pages stop short of it. */
export const MAX_RESPONSE_BYTES = 1_000_000;

/**
 * Ids are compared as text in places (ownership checks, pair order), so they
 * are lower-cased at the edge: an upper-case spelling names the same thing.
 */
export const uuid = z
  .string()
  .uuid()
  .transform((id) => id.toLowerCase());

/** Text Postgres can store: well-formed UTF-16 and no NUL character. */
const storableText = z
  .string()
  .refine((s) => s.isWellFormed(), 'must be well-formed Unicode text')
  .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

/** Length in Unicode code points, so an emoji or CJK character counts as one. */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The largest value an INTEGER column holds: every sequence number and count the schemas take stays inside it. */
export const MAX_INT32 = 2_147_483_647;

/**
 * Characters that reorder or hide text (bidirectional overrides and
 * isolates, zero-width characters): refused in names people read, where
 * they would make one user look like another.
 */
const DECEPTIVE_CHARS = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

const intFromQuery = z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int());

// ---- HTTP ------------------------------------------------------------------

export const handleSchema = z.string().regex(/^[a-z0-9_]{3,32}$/, 'must be 3-32 characters of a-z, 0-9 and _');

export const devLoginBody = z.object({
  handle: handleSchema,
  displayName: storableText
    .refine((v) => !DECEPTIVE_CHARS.test(v), 'must not contain bidirectional-override or zero-width characters')
    .pipe(z.string().trim().min(1).max(64))
    .optional(),
});

export const contactPutBody = z.object({ favorite: z.boolean().optional() });

/** What PUT /contacts/:userId accepts: a PUT without a body is the plain quick add. */
export const contactPutRequest = z.preprocess((v) => v ?? {}, contactPutBody);

export const userIdParam = uuid;

export const messagesQuery = z.object({
  beforeSeq: intFromQuery.pipe(z.number().min(1).max(MAX_INT32)).optional(),
  limit: intFromQuery.pipe(z.number().min(1).max(MAX_PAGE)).optional(),
});

/** Opaque continuation of a list; only what the server handed out is accepted. */
export const pageCursor = z.string().min(1).max(200);

export const callsQuery = z.object({
  limit: intFromQuery.pipe(z.number().min(1).max(MAX_PAGE)).optional(),
  cursor: pageCursor.optional(),
});

/** `?limit=&cursor=` of /contacts, /blocks and /conversations. */
export const pageQuery = z.object({
  limit: intFromQuery.pipe(z.number().min(1).max(MAX_PAGE)).optional(),
  cursor: pageCursor.optional(),
});

/** `POST /auth/tokens`: the operator's backend asks for a token of one of its users. */
export const issueTokenBody = devLoginBody;

export const flagKeyParam = z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a flag key');

export const adminFlagPutBody = z.object({
  description: storableText.pipe(z.string().max(500)).optional(),
  enabled: z.boolean().optional(),
  rolloutPercent: z.number().int().min(0).max(100).optional(),
  allowUserIds: z.array(uuid).max(10_000).optional(),
  denyUserIds: z.array(uuid).max(10_000).optional(),
});

/** What PUT /admin/flags/:key accepts: unknown fields are refused, so a typo cannot look like a successful change. */
export const adminFlagPutRequest = adminFlagPutBody.strict();

export const flagAuditQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(500).optional() })
  .passthrough()
  .transform((q) => ({ limit: q.limit ?? 100 }));

/** x-admin-actor: who made a change, for the audit trail; anything unusable counts as not given. */
export const adminActorHeader = z
  .string()
  .trim()
  .regex(/^[\x21-\x7e][\x20-\x7e]{0,63}$/)
  .optional()
  .catch(undefined);

// ---- Messages (socket) -----------------------------------------------------

export const dmSend = z.object({
  to: uuid,
  clientMsgId: uuid,
  body: storableText.refine((s) => {
    const n = charCount(s);
    return n >= 1 && n <= MAX_BODY_CHARS;
  }, `must be 1-${MAX_BODY_CHARS} characters`),
});

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * dm:send is the busiest event and zod's parse of it was a twentieth of the
 * gateway's CPU. This takes the payloads `dmSend` accepts in their usual form
 * (a body of at most MAX_BODY_CHARS UTF-16 units) and gives the same result:
 * only the three fields, ids lower-cased. Undefined means "not decided
 * here": `dmSend` gives the verdict and the error's wording.
 */
export function dmSendFast(value: unknown): DmSend | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { to, clientMsgId, body } = value as Record<string, unknown>;
  if (typeof to !== 'string' || typeof clientMsgId !== 'string' || typeof body !== 'string') return undefined;
  // 1..MAX_BODY_CHARS UTF-16 units is 1..MAX_BODY_CHARS code points too; longer bodies may still fit (left to dmSend).
  if (body.length === 0 || body.length > MAX_BODY_CHARS) return undefined;
  if (!UUID_TEXT.test(to) || !UUID_TEXT.test(clientMsgId)) return undefined;
  if (!body.isWellFormed() || body.includes('\u0000')) return undefined;
  return { to: to.toLowerCase(), clientMsgId: clientMsgId.toLowerCase(), body };
}

export const dmHistory = z.object({
  conversationId: uuid,
  beforeSeq: z.number().int().min(1).max(MAX_INT32).optional(),
  limit: z.number().int().min(1).max(MAX_PAGE).optional(),
});

export const dmRead = z.object({
  conversationId: uuid,
  upToSeq: z.number().int().min(0).max(MAX_INT32),
});

export const dmTyping = z.object({ to: uuid });

export const dmSync = z.object({
  afterCursor: z.string().max(100_000).optional(),
  limit: z.number().int().min(1).max(MAX_PAGE).optional(),
});

export const authRefresh = z.object({ token: z.string().min(1).max(4096) });

// ---- Calls (socket) --------------------------------------------------------

/** A call's `media`: the kinds of track it may carry. */
export const callMedia = mediaKind;

export const callInvite = z.object({ to: uuid, media: callMedia.default('audio') });

export const callRef = z.object({ callId: uuid });

// ---- Media (socket) --------------------------------------------------------

/**
 * JSON a client hands through to mediasoup (RTP parameters and
 * capabilities, DTLS parameters): bounded in depth, keys, array length and
 * string length, so nothing deep or huge reaches the SFU. Field-level
 * rules stay mediasoup's (answered VALIDATION_FAILED).
 */
export const MEDIA_JSON_LIMITS = { depth: 6, keys: 48, items: 64, chars: 512 } as const;

function boundedJsonProblem(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'numbers must be finite';
  if (typeof value === 'string')
    return value.length <= MEDIA_JSON_LIMITS.chars ? undefined : `strings are at most ${MEDIA_JSON_LIMITS.chars} characters`;
  if (depth >= MEDIA_JSON_LIMITS.depth) return `nested at most ${MEDIA_JSON_LIMITS.depth} deep`;
  if (Array.isArray(value)) {
    if (value.length > MEDIA_JSON_LIMITS.items) return `arrays hold at most ${MEDIA_JSON_LIMITS.items} items`;
    for (const item of value) {
      const problem = boundedJsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length > MEDIA_JSON_LIMITS.keys) return `objects hold at most ${MEDIA_JSON_LIMITS.keys} keys`;
    for (const [key, item] of entries) {
      if (key.length > 64) return 'keys are at most 64 characters';
      const problem = boundedJsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  return 'must be JSON';
}

/** An object of JSON within MEDIA_JSON_LIMITS. */
export const mediaJson = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = boundedJsonProblem(value, 0);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const port = z.number().int().min(1).max(65535);

export const mediaCapabilities = callRef;

export const mediaCreateTransport = z.object({
  callId: uuid,
  direction: transportDirection,
  type: transportType.default('webrtc'),
  /** Plain only: false puts RTCP on its own port (as ffmpeg and GStreamer send it). */
  rtcpMux: z.boolean().default(true),
});

export const mediaConnectTransport = z.object({
  transportId: uuid,
  dtlsParameters: mediaJson.optional(),
  ip: z.string().ip().optional(),
  port: port.optional(),
  rtcpPort: port.optional(),
});

export const mediaProduce = z.object({
  transportId: uuid,
  kind: mediaKind,
  rtpParameters: mediaJson,
});

export const mediaConsume = z.object({
  transportId: uuid,
  producerId: uuid,
  rtpCapabilities: mediaJson,
});

export const mediaResume = z.object({ consumerId: uuid });

/** `media:join`'s send part: a transport and, for plain transports, what to produce on it at once. */
export const mediaJoinSend = z.object({
  type: transportType.default('webrtc'),
  rtcpMux: z.boolean().default(true),
  /** Plain only: the address RTP will come from (default: the socket's address; only that source is accepted). */
  ip: z.string().ip().optional(),
  port: port.optional(),
  rtcpPort: port.optional(),
  produce: z
    .array(z.object({ kind: mediaKind, rtpParameters: mediaJson }))
    .max(2)
    .refine((items) => new Set(items.map((i) => i.kind)).size === items.length, 'one producer per kind')
    .optional(),
});

/** `media:join`'s receive part: a transport, connected at once when a plain one names where to send. */
export const mediaJoinRecv = z.object({
  type: transportType.default('webrtc'),
  rtcpMux: z.boolean().default(true),
  ip: z.string().ip().optional(),
  port: port.optional(),
  rtcpPort: port.optional(),
});

/** What a participant wants of a call's media, set up in one request (`media:join`, `call:accept { join }`). */
export const mediaJoinOptions = z.object({
  rtpCapabilities: mediaJson.optional(),
  send: mediaJoinSend.optional(),
  recv: mediaJoinRecv.optional(),
});

export const mediaJoin = mediaJoinOptions.extend({ callId: uuid });

/** `call:accept`: the callee may join the call's media in the same request. */
export const callAccept = callRef.extend({ join: mediaJoinOptions.optional() });

// ---- Experiments (HTTP, admin) --------------------------------------------

export const exposuresQuery = z.object({
  limit: intFromQuery.pipe(z.number().min(1).max(MAX_PAGE)).optional(),
  cursor: pageCursor.optional(),
});

export const flagReportQuery = z.object({
  /** Only exposures and calls since then (default: everything). */
  since: z.string().datetime({ offset: true }).optional(),
});

export type DevLoginBody = z.infer<typeof devLoginBody>;
export type ContactPutBody = z.infer<typeof contactPutBody>;
export type MessagesQuery = z.infer<typeof messagesQuery>;
export type PageQuery = z.infer<typeof pageQuery>;
export type AuthRefresh = z.infer<typeof authRefresh>;
export type AdminFlagPutBody = z.infer<typeof adminFlagPutBody>;
export type DmSend = z.infer<typeof dmSend>;
export type DmHistory = z.infer<typeof dmHistory>;
export type DmRead = z.infer<typeof dmRead>;
export type DmTyping = z.infer<typeof dmTyping>;
export type DmSync = z.infer<typeof dmSync>;
export type CallInvite = z.input<typeof callInvite>;
export type CallRef = z.infer<typeof callRef>;
export type MediaCreateTransport = z.input<typeof mediaCreateTransport>;
export type MediaConnectTransport = z.infer<typeof mediaConnectTransport>;
export type MediaProduce = z.infer<typeof mediaProduce>;
export type MediaConsume = z.infer<typeof mediaConsume>;
export type MediaResume = z.infer<typeof mediaResume>;
export type MediaJoinOptions = z.input<typeof mediaJoinOptions>;
export type MediaJoin = z.input<typeof mediaJoin>;
export type MediaJoinParsed = z.output<typeof mediaJoin>;
export type CallAccept = z.input<typeof callAccept>;
export type ExposuresQuery = z.infer<typeof exposuresQuery>;
export type FlagReportQuery = z.infer<typeof flagReportQuery>;
