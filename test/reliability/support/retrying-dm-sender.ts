import crypto from 'node:crypto';
import type { SocialClient } from '@app/client';
import { sleep } from '../../support/wait';

export interface AckedMessage {
  clientMsgId: string;
  id: string;
  seq: number;
  conversationId: string;
}

/**
 * Sends `count` DMs one after another, each with its own clientMsgId, and
 * retries a message with the same clientMsgId until it is acknowledged (as a
 * client that survives outages must). `client()` is asked anew on each try,
 * so a test can swap in a client of a restarted gateway.
 */
export class RetryingDmSender {
  readonly acked: AckedMessage[] = [];
  readonly attempts = new Map<string, number>();
  readonly refusals: Record<string, number> = {};
  private stopped = false;

  constructor(
    private readonly client: () => SocialClient,
    private readonly to: string,
    private readonly label: string,
  ) {}

  async run(count: number, deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    for (let i = 0; i < count && !this.stopped; i++) {
      const clientMsgId = crypto.randomUUID();
      for (;;) {
        if (Date.now() > deadline) throw new Error(`${this.label}: message ${i} not acknowledged before the deadline`);
        this.attempts.set(clientMsgId, (this.attempts.get(clientMsgId) ?? 0) + 1);
        try {
          const c = this.client();
          if (!c.socket?.connected) throw new Error('not connected');
          const { message } = await c.request('dm:send', { to: this.to, clientMsgId, body: `${this.label} ${i}` }, 3000);
          this.acked.push({ clientMsgId, id: message.id, seq: message.seq, conversationId: message.conversationId });
          break;
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'NO_ANSWER';
          this.refusals[code] = (this.refusals[code] ?? 0) + 1;
          await sleep(100);
        }
      }
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Messages that needed more than one try (the ones an outage hit). */
  retried(): number {
    return [...this.attempts.values()].filter((n) => n > 1).length;
  }
}
