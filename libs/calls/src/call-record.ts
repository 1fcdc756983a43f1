import type { CallDto, CallEndReason, CallMedia, CallState } from '@app/contracts';
import { storedMediaStats } from './stored-media-stats';

/** A call as stored (the `calls` row), the shape the calls capability works with. */
export interface CallRecord {
  id: string;
  callerId: string;
  calleeId: string;
  media: CallMedia;
  state: CallState;
  createdAt: Date;
  ringEndsAt: Date | null;
  answeredAt: Date | null;
  maxEndsAt: Date | null;
  warnedAt: Date | null;
  endedAt: Date | null;
  endReason: CallEndReason | null;
  endedById: string | null;
  /** As stored: the protocol's mediaStats, or an earlier format (read through storedMediaStats). */
  mediaStats: unknown;
  /** The media node holding the room of an active call. */
  mediaNodeId: string | null;
}

/** A call row from the fields it is given; the rest as a new row has them (not yet answered, ended or placed). */
export function callRecord(
  fields: Pick<CallRecord, 'id' | 'callerId' | 'calleeId' | 'state' | 'createdAt'> & Partial<CallRecord>,
): CallRecord {
  return {
    media: 'audio',
    ringEndsAt: null,
    answeredAt: null,
    maxEndsAt: null,
    warnedAt: null,
    endedAt: null,
    endReason: null,
    endedById: null,
    mediaStats: null,
    mediaNodeId: null,
    ...fields,
  };
}

export function isParticipant(call: CallRecord, userId: string): boolean {
  return call.callerId === userId || call.calleeId === userId;
}

export function otherParticipant(call: CallRecord, userId: string): string {
  return call.callerId === userId ? call.calleeId : call.callerId;
}

/** Whole seconds between answer and end; only for answered calls that ended. */
export function callDurationSeconds(call: Pick<CallRecord, 'answeredAt' | 'endedAt'>): number | undefined {
  if (!call.answeredAt || !call.endedAt) return undefined;
  return Math.max(0, Math.round((call.endedAt.getTime() - call.answeredAt.getTime()) / 1000));
}

/** The protocol's `call` object: optional fields are left out while unknown. */
export function toCallDto(call: CallRecord, options: { withMediaStats?: boolean } = {}): CallDto {
  const dto: CallDto = {
    id: call.id,
    callerId: call.callerId,
    calleeId: call.calleeId,
    media: call.media,
    state: call.state,
    createdAt: call.createdAt.toISOString(),
  };
  if (call.answeredAt) dto.answeredAt = call.answeredAt.toISOString();
  if (call.endedAt) dto.endedAt = call.endedAt.toISOString();
  if (call.endReason) dto.endReason = call.endReason;
  if (call.endedById) dto.endedById = call.endedById;
  if (call.maxEndsAt) dto.maxEndsAt = call.maxEndsAt.toISOString();
  const duration = callDurationSeconds(call);
  if (duration !== undefined) dto.durationSeconds = duration;
  if (options.withMediaStats && call.state === 'ended') dto.mediaStats = storedMediaStats(call.mediaStats, duration);
  return dto;
}
