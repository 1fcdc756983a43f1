import type { CallRecord } from './call-record';
import { callDurationSeconds } from './call-record';

/** "12:34", or "1:02:03" from an hour on. */
export function formatCallDuration(totalSeconds: number): string {
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${String(m).padStart(2, '0')}:${ss}`;
}

/**
 * The line an ended call leaves in the conversation, as chat apps show it:
 * "Voice call · 12:34" when it was answered, otherwise what happened to the ring.
 */
export function callEntryBody(call: Pick<CallRecord, 'media' | 'answeredAt' | 'endedAt' | 'endReason'>): string {
  const kind = call.media === 'video' ? 'video call' : 'voice call';
  const duration = callDurationSeconds(call);
  if (duration !== undefined) return `${kind[0].toUpperCase()}${kind.slice(1)} · ${formatCallDuration(duration)}`;
  switch (call.endReason) {
    case 'declined':
      return `Declined ${kind}`;
    case 'cancelled':
      return `Cancelled ${kind}`;
    default:
      // missed, or a ring that ended because a side vanished
      return `Missed ${kind}`;
  }
}
