import { Injectable } from '@nestjs/common';
import { DirectMessagesService } from './direct-messages.service';

export interface CallEntryInput {
  callId: string;
  callerId: string;
  calleeId: string;
  /** What a chat app shows, e.g. "Voice call · 12:34", "Missed voice call". */
  body: string;
}

/**
 * Leaves the entry a finished call shows in its conversation (a message of
 * kind `call` from the caller, clientMsgId = callId so writing it twice
 * stores it once), delivered like any message.
 */
@Injectable()
export class CallEntryWriter {
  constructor(private readonly messages: DirectMessagesService) {}

  async appendCallEntry(input: CallEntryInput): Promise<void> {
    await this.messages.appendCallEntry(input);
  }
}
