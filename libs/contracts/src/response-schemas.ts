/**
 * The shapes the server sends (models.ts), as zod schemas, so the protocol
 * can be published as data (AsyncAPI, OpenAPI). Each is checked against its
 * interface at compile time: the two cannot drift apart.
 */
import { z } from 'zod';
import { ERROR_CODES } from './errors';
import { CALL_END_REASONS } from './models';
import type * as M from './models';

const isoTime = z.string().datetime({ offset: true }).describe('ISO-8601 time in UTC');
const id = z.string().uuid();

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
  kind: z.enum(['text', 'call']),
  callId: id.optional(),
});

export const conversationDto = z.object({
  id,
  peer: userDto,
  lastMessage: messageDto.nullable(),
  unread: z.number().int().min(0),
});

export const callDto = z.object({
  id,
  callerId: id,
  calleeId: id,
  media: z.enum(['audio', 'video']),
  state: z.enum(['ringing', 'active', 'ended']),
  createdAt: isoTime,
  answeredAt: isoTime.optional(),
  endedAt: isoTime.optional(),
  endReason: z.enum(CALL_END_REASONS).optional(),
  maxEndsAt: isoTime.optional(),
  durationSeconds: z.number().int().min(0).optional(),
  endedById: id.optional(),
  mediaStats: z.record(z.string(), z.unknown()).nullable().optional(),
});

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
  db: z.enum(['up', 'down', 'unused']),
  media: z.enum(['up', 'down']),
  role: z.enum(['all', 'gateway', 'media']).optional(),
  nodeId: z.string().optional(),
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
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), data }),
    z.object({ ok: z.literal(false), error: errorBody }),
  ]);
}

// ---- compile-time agreement with models.ts ----------------------------------
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(_: T) => undefined;
agree<Same<z.infer<typeof userDto>, M.UserDto>>(true);
agree<Same<z.infer<typeof contactDto>, M.ContactDto>>(true);
agree<Same<z.infer<typeof messageDto>, M.MessageDto>>(true);
agree<Same<z.infer<typeof conversationDto>, M.ConversationDto>>(true);
agree<Same<z.infer<typeof callDto>, M.CallDto>>(true);
agree<Same<z.infer<typeof flagDefinitionDto>, M.FlagDefinitionDto>>(true);
agree<Same<z.infer<typeof flagAuditEntryDto>, M.FlagAuditEntryDto>>(true);
agree<Same<z.infer<typeof healthDto>, M.HealthDto>>(true);
agree<Same<z.infer<typeof livenessDto>, M.LivenessDto>>(true);
agree<Same<z.infer<typeof readinessDto>, M.ReadinessDto>>(true);
agree<Same<z.infer<typeof callDto>['endReason'], M.CallDto['endReason']>>(true);
