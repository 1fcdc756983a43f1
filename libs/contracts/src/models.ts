/** Shapes the server sends. Fields may be added, never renamed or removed. */
import type { MediaStatsDto } from './response-schemas';

export interface UserDto {
  id: string;
  handle: string;
  displayName: string;
}

export interface ContactDto {
  user: UserDto;
  favorite: boolean;
  mutual: boolean;
  addedAt: string;
}

export type MessageKind = 'text' | 'call';

export interface MessageDto {
  id: string;
  conversationId: string;
  senderId: string;
  recipientId: string;
  seq: number;
  body: string;
  clientMsgId: string;
  createdAt: string;
  /** `call` for the entry a finished call leaves in the conversation. */
  kind: MessageKind;
  callId?: string;
}

export interface ConversationDto {
  id: string;
  peer: UserDto;
  lastMessage: MessageDto | null;
  unread: number;
}

export type CallMedia = 'audio' | 'video';
export type CallState = 'ringing' | 'active' | 'ended';
export const CALL_END_REASONS = [
  'hangup',
  'declined',
  'cancelled',
  'missed',
  'max_duration',
  'disconnected',
  'media_failure',
  'blocked',
] as const;
export type CallEndReason = (typeof CALL_END_REASONS)[number];

export interface CallDto {
  id: string;
  callerId: string;
  calleeId: string;
  media: CallMedia;
  state: CallState;
  createdAt: string;
  answeredAt?: string;
  endedAt?: string;
  endReason?: CallEndReason;
  maxEndsAt?: string;
  /** Seconds between answer and end, for ended calls that were answered. */
  durationSeconds?: number;
  /** The participant whose action (or lost connection) ended the call; absent when a timer or the server ended it. */
  endedById?: string;
  /** In the call history (GET /calls) of ended calls: media statistics gathered at the end, or null. */
  mediaStats?: MediaStatsDto | null;
}

export interface FlagDefinitionDto {
  key: string;
  description: string;
  enabled: boolean;
  rolloutPercent: number;
  allowUserIds: string[];
  denyUserIds: string[];
  updatedAt: string;
}

export interface FlagAuditEntryDto {
  at: string;
  actor: string;
  before: Omit<FlagDefinitionDto, 'updatedAt'> | null;
  after: Omit<FlagDefinitionDto, 'updatedAt'>;
}

export type EvaluatedFlags = Record<string, boolean> & { video_call: boolean };

export interface HealthDto {
  status: 'ok' | 'degraded';
  /** `unused` on a media node (NODE_ROLE=media), which needs no database. */
  db: 'up' | 'down' | 'unused';
  /** This process's workers where it is a media node; otherwise whether any media node is alive. */
  media: 'up' | 'down';
  role?: 'all' | 'gateway' | 'media';
  /** This process's media node id, where it is one. */
  nodeId?: string;
  /** Media nodes alive now (their heartbeats), as this process sees them. */
  mediaNodes?: number;
  workers?: { pid: number; alive: boolean; routers: number; webRtcPort?: number }[];
}

/** GET /health/live */
export interface LivenessDto {
  status: 'ok';
}

/** GET /health/ready: 503 unless `ready`. `db` is `unknown` while draining (not asked). */
export interface ReadinessDto {
  ready: boolean;
  db: 'up' | 'down' | 'unknown';
  draining: boolean;
}
