import { Injectable } from '@nestjs/common';
import type { CallMedia } from '@app/contracts';

/** Per-call media figures stored with the call when it ends. */
export interface CallMediaStats {
  [userId: string]: unknown;
}

/**
 * The media side of calls: one room (router) per active call. The calls
 * service opens a room when a call is answered and closes it when the call
 * ends; only the room's two participants may use it.
 */
@Injectable()
export class MediaService {
  /** Opens the call's room on the least loaded worker. */
  async openRoom(_callId: string, _media: CallMedia, _participantIds: [string, string]): Promise<void> {
    // Filled in by the media capability.
  }

  /** Closes everything the call opened; returns its statistics (null if it had no room). */
  async closeRoom(_callId: string): Promise<CallMediaStats | null> {
    return null;
  }

  /** Listener runs when a room is lost (its worker died): the call must end with media_failure. */
  onRoomFailed(_listener: (callId: string) => void | Promise<void>): void {
    // Filled in by the media capability.
  }
}
