/**
 * One schema per payload of the protocol (docs/protocol.md). The gateway
 * validates with these; the SDK takes its parameter types from them.
 * Unknown fields are stripped, so clients may send more than is asked.
 */
import { z } from 'zod';

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

const intFromQuery = z.preprocess(
  (v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v),
  z.number().int(),
);

// ---- HTTP ------------------------------------------------------------------

export const handleSchema = z
  .string()
  .regex(/^[a-z0-9_]{3,32}$/, 'must be 3-32 characters of a-z, 0-9 and _');

export const devLoginBody = z.object({
  handle: handleSchema,
  displayName: storableText.pipe(z.string().trim().min(1).max(64)).optional(),
});

export const contactPutBody = z.object({ favorite: z.boolean().optional() });

/** What PUT /contacts/:userId accepts: a PUT without a body is the plain quick add. */
export const contactPutRequest = z.preprocess((v) => v ?? {}, contactPutBody);

export const userIdParam = uuid;

export const messagesQuery = z.object({
  beforeSeq: intFromQuery.pipe(z.number().min(1)).optional(),
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
  beforeSeq: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(MAX_PAGE).optional(),
});

export const dmRead = z.object({
  conversationId: uuid,
  upToSeq: z.number().int().min(0),
});

export const dmTyping = z.object({ to: uuid });

export const dmSync = z.object({
  afterCursor: z.string().max(100_000).optional(),
  limit: z.number().int().min(1).max(MAX_PAGE).optional(),
});

export const authRefresh = z.object({ token: z.string().min(1).max(4096) });

// ---- Calls (socket) --------------------------------------------------------

export const callMedia = z.enum(['audio', 'video']);

export const callInvite = z.object({ to: uuid, media: callMedia.default('audio') });

export const callRef = z.object({ callId: uuid });

// ---- Media (socket) --------------------------------------------------------

const anyObject = z.record(z.string(), z.unknown());

export const mediaCapabilities = callRef;

export const mediaCreateTransport = z.object({
  callId: uuid,
  direction: z.enum(['send', 'recv']),
  type: z.enum(['webrtc', 'plain']).default('webrtc'),
  /** Plain only: false puts RTCP on its own port (as ffmpeg and GStreamer send it). */
  rtcpMux: z.boolean().default(true),
});

export const mediaConnectTransport = z.object({
  transportId: uuid,
  dtlsParameters: anyObject.optional(),
  ip: z.string().ip().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  rtcpPort: z.number().int().min(1).max(65535).optional(),
});

export const mediaProduce = z.object({
  transportId: uuid,
  kind: z.enum(['audio', 'video']),
  rtpParameters: anyObject,
});

export const mediaConsume = z.object({
  transportId: uuid,
  producerId: uuid,
  rtpCapabilities: anyObject,
});

export const mediaResume = z.object({ consumerId: uuid });

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
