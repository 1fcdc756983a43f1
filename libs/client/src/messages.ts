import type { ConversationDto, MessageDto } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { ClientError, ConnectionLostError, RequestTimeoutError } from './client-error';
import { Page, pageQueryString } from './http-api';
import { sleep } from './sleep';
import type { SocialClient } from './social-client';

export interface SendOptions {
  /** Defaults to a fresh UUID. Reusing one makes the send idempotent. */
  clientMsgId?: string;
  /** Ack wait per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts when no ack arrives or the server is rate limiting (default 5). */
  attempts?: number;
}

export interface HistoryPage {
  messages: MessageDto[];
  nextBeforeSeq: number | null;
}

/** Messages the inbox remembers for deduplication (the most recent ones). */
export const DEFAULT_INBOX_CAPACITY = 5_000;

type MessageListener = (message: MessageDto, via: 'push' | 'sync') => void;

/** Random UUID v4 in Node and in browsers. */
export function newClientMsgId(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * Direct messages. Every message addressed to or sent by this user that the
 * client hears of (a `dm:new` push, a `dm:sync` page) passes through the
 * inbox, which hands each id to listeners exactly once. After a reconnect the
 * inbox asks `dm:sync` for everything after its last cursor, so a message
 * pushed while the socket was down is still delivered.
 *
 * The inbox remembers the latest `capacity` messages only (default 5000):
 * enough to recognise a push and a sync page that cross, while a client that
 * runs for weeks keeps flat memory. Older history is `history()`'s job.
 */
export class MessagesApi {
  private readonly seen: BoundedMap<string, MessageDto>;
  private readonly listeners = new Set<MessageListener>();
  private cursor?: string;
  private syncChain: Promise<number> = Promise.resolve(0);
  private syncs = 0;

  constructor(
    private readonly client: SocialClient,
    capacity = DEFAULT_INBOX_CAPACITY,
  ) {
    this.seen = new BoundedMap(capacity);
    client.on('dm:new', ({ message }) => this.accept(message, 'push'));
  }

  /**
   * `dm:send`. A lost ack (timeout, dropped connection) is retried with the same
   * clientMsgId, which the server answers with the stored message instead of a
   * second copy; RATE_LIMITED is retried after `details.retryAfterMs`.
   */
  async send(to: string, body: string, options: SendOptions = {}): Promise<MessageDto> {
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const attempts = options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const { message } = await this.client.request('dm:send', { to, clientMsgId, body }, options.timeoutMs);
        this.seen.set(message.id, message);
        return message;
      } catch (err) {
        if (attempt >= attempts) throw err;
        if (err instanceof ClientError && err.code === 'RATE_LIMITED') {
          const wait = Number(err.details?.retryAfterMs ?? 100);
          await sleep(Math.min(Math.max(wait, 10), 5_000));
          continue;
        }
        // The server may have stored it; the same clientMsgId makes the resend safe.
        if (err instanceof RequestTimeoutError || err instanceof ConnectionLostError) continue;
        throw err;
      }
    }
  }

  /** `dm:history`: one page, newest first. */
  history(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.client.request('dm:history', { conversationId, ...options });
  }

  /** `dm:read`: marks the conversation read up to `upToSeq`. */
  async markRead(conversationId: string, upToSeq: number): Promise<void> {
    await this.client.request('dm:read', { conversationId, upToSeq });
  }

  /** `dm:typing`. */
  async typing(to: string): Promise<void> {
    await this.client.request('dm:typing', { to });
  }

  /** `GET /conversations`. */
  async conversations(): Promise<ConversationDto[]> {
    return (await this.client.route('GET /conversations', '/conversations')).conversations;
  }

  /** `GET /conversations?limit=&cursor=`: one page, most recent first. */
  async conversationsPage(page: { limit?: number; cursor?: string } = {}): Promise<Page<ConversationDto>> {
    const res = await this.client.route('GET /conversations', `/conversations${pageQueryString(page)}`);
    return { items: res.conversations, nextCursor: res.nextCursor };
  }

  /** `GET /conversations/:id/messages` (the HTTP twin of history). */
  historyOverHttp(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.beforeSeq !== undefined) query.set('beforeSeq', String(options.beforeSeq));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const qs = query.toString();
    return this.client.route(
      'GET /conversations/:id/messages',
      `/conversations/${encodeURIComponent(conversationId)}/messages${qs ? `?${qs}` : ''}`,
    );
  }

  /**
   * `dm:sync` from the last cursor until the server has no more, feeding the
   * inbox. Concurrent calls run one after another. Resolves to the number of
   * messages new to the inbox.
   */
  sync(): Promise<number> {
    const run = this.syncChain.catch(() => 0).then(() => this.syncPages());
    this.syncChain = run;
    return run;
  }

  /** Called once per message id, whether it came live or through a sync. Returns an unsubscribe. */
  onMessage(listener: MessageListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The messages the inbox remembers (received or sent; the latest `capacity`), in arrival order. */
  get inbox(): MessageDto[] {
    return [...this.seen.values()];
  }

  /** Messages received from others, in arrival order. */
  get received(): MessageDto[] {
    return this.inbox.filter((m) => m.senderId !== this.client.id);
  }

  /** How many messages the inbox keeps at most. */
  get capacity(): number {
    return this.seen.capacity;
  }

  has(messageId: string): boolean {
    return this.seen.has(messageId);
  }

  /** Number of completed `dm:sync` runs (each may span several pages). */
  get syncCount(): number {
    return this.syncs;
  }

  get lastCursor(): string | undefined {
    return this.cursor;
  }

  private async syncPages(): Promise<number> {
    let fresh = 0;
    for (;;) {
      const page = await this.client.request('dm:sync', this.cursor === undefined ? {} : { afterCursor: this.cursor });
      for (const message of page.messages) if (this.accept(message, 'sync')) fresh++;
      const advanced = page.cursor !== this.cursor;
      this.cursor = page.cursor;
      if (!page.hasMore || !advanced || page.messages.length === 0) break;
    }
    this.syncs++;
    return fresh;
  }

  private accept(message: MessageDto, via: 'push' | 'sync'): boolean {
    if (this.seen.has(message.id)) return false;
    this.seen.set(message.id, message);
    for (const listener of [...this.listeners]) {
      try {
        listener(message, via);
      } catch {
        // One failing listener must not stop delivery to the others or a sync.
      }
    }
    return true;
  }
}
