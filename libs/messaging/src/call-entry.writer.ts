import { Injectable } from '@nestjs/common';

export interface CallEntryInput {
  callId: string;
  callerId: string;
  calleeId: string;
  /** What a chat app shows, e.g. "Voice call · 12:34", "Missed voice call". */
  body: string;
}

/**
 * Leaves the entry a finished call shows in its conversation (a message of
 * kind `call` from the caller), delivered like any message.
 */
@Injectable()
export class CallEntryWriter {
  async appendCallEntry(_input: CallEntryInput): Promise<void> {
    // Filled in by the messaging capability.
  }
}
