/**
 * Shapes the server sends, as TypeScript types. Each is inferred from its
 * schema in response-schemas.ts (the one declaration): change the schema and
 * the type follows. Fields may be added, never renamed or removed.
 */
import type { z } from 'zod';
import type * as R from './response-schemas';

export { CALL_END_REASONS } from './enums';
export type { CallEndReason, CallState, MessageKind } from './enums';
export type { MediaKind as CallMedia } from './enums';

export type UserDto = z.infer<typeof R.userDto>;
export type ContactDto = z.infer<typeof R.contactDto>;
export type MessageDto = z.infer<typeof R.messageDto>;
export type ConversationDto = z.infer<typeof R.conversationDto>;
export type CallDto = z.infer<typeof R.callDto>;
export type FlagDefinitionDto = z.infer<typeof R.flagDefinitionDto>;
export type FlagAuditEntryDto = z.infer<typeof R.flagAuditEntryDto>;
/** Every defined flag as evaluated for one user; `video_call` always among them. */
export type EvaluatedFlags = z.infer<typeof R.evaluatedFlags>;
export type HealthDto = z.infer<typeof R.healthDto>;
/** GET /health/live */
export type LivenessDto = z.infer<typeof R.livenessDto>;
/** GET /health/ready: 503 unless `ready`. `db` is `unknown` while draining (not asked). */
export type ReadinessDto = z.infer<typeof R.readinessDto>;
