import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '@app/config';
import { ConversationDto, DomainError, MAX_PAGE, MessageDto } from '@app/contracts';
import { decodePageCursor, encodePageCursor, offsetCursor, withinResponseBytes } from '@app/database';
import { RateLimiterService, TYPING_PER_CONVERSATION } from '@app/rate-limits';
import { CounterSeries, Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RealtimeService } from '@app/realtime';
import { RelationshipService } from '@app/relationships';
import { ConversationRepository } from './conversation.repository';
import { MessageRepository, MessageRow, NewMessage, SendRefusal, sendRefusalOf } from './message.repository';
import { toConversationDto, toMessageDto } from './messaging-dtos';
import { BatchedMessageStore } from './batched-message-store';
import { decodeSyncCursor, encodeSyncCursor } from './sync-cursor';

export const DEFAULT_HISTORY_PAGE = 50;
// Pages also stop before MAX_RESPONSE_BYTES (a 4000-character message can be 16 KB of JSON).
export const DEFAULT_SYNC_PAGE = MAX_PAGE;

export interface SendInput {
  to: string;
  clientMsgId: string;
  body: string;
}

export interface SendResult {
  message: MessageDto;
  /** True when this clientMsgId was stored before: nothing new was stored or delivered. */
  duplicate: boolean;
}

export interface HistoryPage {
  messages: MessageDto[];
  nextBeforeSeq: number | null;
}

export interface SyncPage {
  messages: MessageDto[];
  cursor: string;
  hasMore: boolean;
}

/**
 * 1:1 direct messages: storing with a gapless per-conversation seq, reading,
 * read marks, typing and catch-up. Tells users through RealtimeService; the
 * `originConnectionId` of a send is the sender's socket that already has
 * the answer in its ack, so it is not sent dm:new.
 */
@Injectable()
export class DirectMessagesService {
  private readonly logger: Logger;
  private readonly sent;
  private readonly sentText: CounterSeries;
  private readonly duplicates;
  private readonly deliveredToRecipient: CounterSeries;
  private readonly deliveredToSender: CounterSeries;
  private readonly sendSeconds;

  constructor(
    private readonly messages: MessageRepository,
    private readonly batches: BatchedMessageStore,
    private readonly conversations: ConversationRepository,
    private readonly relationships: RelationshipService,
    private readonly realtime: RealtimeService,
    private readonly rateLimits: RateLimiterService,
    private readonly clock: Clock,
    metrics: MetricsService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'messaging' });
    this.sent = metrics.counter('messages_sent_total', 'messages stored', ['kind']);
    this.duplicates = metrics.counter('dm_duplicate_sends_total', 'sends answered with an already stored message');
    this.sentText = metrics.counterSeries(this.sent, { kind: 'text' });
    const deliveries = metrics.counter('dm_deliveries_total', 'dm:new pushes to a user', ['to']);
    this.deliveredToRecipient = metrics.counterSeries(deliveries, { to: 'recipient' });
    this.deliveredToSender = metrics.counterSeries(deliveries, { to: 'sender' });
    this.sendSeconds = metrics.histogram(
      'dm_send_duration_seconds',
      'dm:send from its checks to its commit (one statement for a pair this process knows)',
    );
  }

  /** Rate limited where the request enters (per user, every event), not here. */
  async send(senderId: string, input: SendInput, originConnectionId?: string): Promise<SendResult> {
    if (input.to === senderId) {
      throw new DomainError('VALIDATION_FAILED', 'to must be another user, not yourself', {
        fields: [{ field: 'to', message: 'must not be yourself' }],
      });
    }
    const timer = this.sendSeconds.startTimer();
    // A pair whose conversation this process knows is checked by the append's own statement: one
    // round trip to the database per send. Otherwise the checks come first, so that nothing is
    // created for a recipient that does not exist or a pair that is blocked.
    let conversation = this.conversations.knownBetween(senderId, input.to);
    if (!conversation) {
      // A resend (lost ack, reconnect) is answered with what was stored, whatever it carries now.
      const checks = await this.batches.check({ senderId, recipientId: input.to, clientMsgId: input.clientMsgId });
      if (checks.earlier) return this.duplicate(checks.earlier);
      const refusal = sendRefusalOf(checks);
      if (refusal) throw refusedSend(refusal);
      conversation = await this.conversations.ensureBetween(senderId, input.to);
    }
    const result = await this.batches.append({
      conversationId: conversation.id,
      senderId,
      recipientId: input.to,
      clientMsgId: input.clientMsgId,
      kind: 'text',
      body: input.body,
      at: this.clock.now(),
    });
    timer();
    if ('refused' in result) throw refusedSend(result.refused);
    if (!result.stored) return this.duplicate(result.message);
    this.sentText.inc();
    const message = toMessageDto(result.message);
    this.deliver(message, originConnectionId);
    return { message, duplicate: false };
  }

  /**
   * The entry a finished call leaves in the pair's conversation: a message
   * of kind `call` from the caller, clientMsgId = callId so writing it twice
   * stores it once, delivered like any message. Not rate limited, not blocked.
   */
  async appendCallEntry(input: { callId: string; callerId: string; calleeId: string; body: string }): Promise<MessageDto> {
    const conversation = await this.conversations.ensureBetween(input.callerId, input.calleeId);
    const entry: NewMessage = {
      conversationId: conversation.id,
      senderId: input.callerId,
      recipientId: input.calleeId,
      clientMsgId: input.callId,
      kind: 'call',
      body: input.body,
      callId: input.callId,
      at: this.clock.now(),
    };
    const result = await this.messages.appendWithNextSeq(entry);
    const message = toMessageDto(result.message);
    if (result.stored) {
      this.sent.inc({ kind: 'call' });
      this.deliver(message, undefined);
    }
    return message;
  }

  async history(userId: string, query: { conversationId: string; beforeSeq?: number; limit?: number }): Promise<HistoryPage> {
    await this.requireParticipant(query.conversationId, userId);
    const limit = Math.min(query.limit ?? DEFAULT_HISTORY_PAGE, MAX_PAGE);
    const rows = withinResponseBytes(await this.messages.page(query.conversationId, query.beforeSeq, limit));
    // Seqs have no gaps, so there is more exactly when the oldest one here is not seq 1.
    const oldest = rows.length > 0 ? rows[rows.length - 1].seq : null;
    return { messages: rows.map(toMessageDto), nextBeforeSeq: oldest !== null && oldest > 1 ? oldest : null };
  }

  /** One page, most recent first; the cursor is a position (the order moves with every message). */
  async conversationsOf(
    userId: string,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ conversations: ConversationDto[]; nextCursor: string | null }> {
    const offset = decodePageCursor(page.cursor, offsetCursor)?.o ?? 0;
    const limit = page.limit ?? MAX_PAGE;
    const rows = await this.conversations.summariesFor(userId, { offset, limit: limit + 1 });
    const conversations = withinResponseBytes(rows.slice(0, limit).map(toConversationDto));
    const more = rows.length > conversations.length;
    return { conversations, nextCursor: more ? encodePageCursor({ o: offset + conversations.length }) : null };
  }

  /** Moves the read mark forward (never back) and tells the other participant and the reader's other sockets. */
  async markRead(userId: string, input: { conversationId: string; upToSeq: number }, originConnectionId?: string): Promise<void> {
    const conversation = await this.requireParticipant(input.conversationId, userId);
    const upToSeq = await this.conversations.advanceReadMark(conversation.id, userId, input.upToSeq);
    if (upToSeq === null) return;
    const peerId = conversation.userLowId === userId ? conversation.userHighId : conversation.userLowId;
    const event = { conversationId: conversation.id, readerId: userId, upToSeq };
    // A read receipt never reaches someone who blocked the reader (nor someone the reader blocked).
    const peerMayKnow = !(await this.relationships.isBlockedEitherWay(userId, peerId));
    this.realtime.toUsers(peerMayKnow ? [peerId, userId] : [userId], originConnectionId, 'dm:read', event);
  }

  /** Relayed, never stored; at most one per second and conversation. */
  async typing(userId: string, to: string): Promise<void> {
    await this.relationships.requireOtherUser(userId, to, 'to');
    await this.rateLimits.consume(TYPING_PER_CONVERSATION, `${userId}:${to}`);
    if (await this.relationships.isBlockedEitherWay(userId, to)) {
      throw new DomainError('BLOCKED', 'messages between you and this user are blocked');
    }
    this.realtime.toUser(to, 'dm:typing', { from: userId });
  }

  /**
   * Every message of the user's conversations after the cursor, in the
   * user's inbox order (each conversation's messages by seq). The cursor is
   * the position of the page's last message, so its size never grows.
   */
  async sync(userId: string, input: { afterCursor?: string; limit?: number }): Promise<SyncPage> {
    const from = decodeSyncCursor(input.afterCursor);
    const limit = input.limit ?? DEFAULT_SYNC_PAGE;
    let start: number;
    let rows;
    if (from.kind === 'position') {
      start = from.position;
      rows = await this.messages.inboxAfter(userId, start, limit + 1);
    } else {
      // A cursor of the previous format: the top is read first, so with nothing unseen it is a position nothing committed later lies below.
      start = await this.messages.inboxTop(userId);
      rows = await this.messages.inboxUnseen(userId, from.seen, limit + 1);
    }
    const page = withinResponseBytes(rows.slice(0, limit).map(toMessageDto));
    const position = page.length > 0 ? rows[page.length - 1].position : start;
    return { messages: page, cursor: encodeSyncCursor(position), hasMore: rows.length > page.length };
  }

  /** "Unknown" and "not yours" answer alike, so conversation ids leak nothing. */
  private async requireParticipant(conversationId: string, userId: string) {
    const conversation = await this.conversations.findForParticipant(conversationId, userId);
    if (!conversation) throw DomainError.notFound('conversation');
    return conversation;
  }

  private duplicate(row: MessageRow): SendResult {
    this.duplicates.inc();
    return { message: toMessageDto(row), duplicate: true };
  }

  private deliver(message: MessageDto, originConnectionId: string | undefined): void {
    try {
      this.realtime.toUsers([message.recipientId, message.senderId], originConnectionId, 'dm:new', { message });
      this.deliveredToRecipient.inc();
      this.deliveredToSender.inc();
    } catch (err) {
      // Stored is what matters: a client that missed the push gets it from dm:sync.
      this.logger.warn({ err, messageId: message.id }, 'dm:new push failed');
    }
  }
}

/** The protocol's error for a send its checks refused. */
function refusedSend(refusal: SendRefusal): DomainError {
  return refusal === 'blocked'
    ? new DomainError('BLOCKED', 'messages between you and this user are blocked')
    : DomainError.notFound('user');
}
