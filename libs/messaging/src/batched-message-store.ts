import { Inject, Injectable } from '@nestjs/common';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RequestBatcher } from './request-batcher';
import {
  CheckedAppendResult,
  MessageRepository,
  NewMessage,
  resendKeyOf,
  SendCheckRequest,
  SendChecks,
  usersLockedBy,
} from './message.repository';

// Enough to take every send of a busy moment in a few batches while one
// statement stays small.
const MAX_BATCH = 256;
// While one batch waits for its commit, the next can already run (appends: on other users' rows).
const MAX_BATCHES_IN_FLIGHT = 2;

/**
 * The send path's queries, batched per process (group commit). Under load
 * many sends share one check query and one append transaction, so one WAL
 * flush; a lone send waits only for the next turn of the event loop. A send
 * is answered after its batch committed. Seqs stay gapless because a batch
 * stores all of its messages or none: when it fails (a duplicate clientMsgId
 * racing in from elsewhere, a lost connection) each message is appended on
 * its own, where a duplicate is answered with the stored row.
 */
@Injectable()
export class BatchedMessageStore {
  private readonly checks: RequestBatcher<SendCheckRequest, SendChecks>;
  private readonly appends: RequestBatcher<NewMessage, CheckedAppendResult>;
  /** Appends not yet answered, by sender and clientMsgId. */
  private readonly pendingAppends = new Map<string, Promise<CheckedAppendResult>>();

  constructor(messages: MessageRepository, metrics: MetricsService, @Inject(ROOT_LOGGER) rootLogger: Logger) {
    const logger = rootLogger.child({ component: 'message-batches' });
    const sizes = metrics.histogram('dm_batch_size', 'sends per batched query', ['query'], [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    const failures = metrics.counter('dm_batch_failures_total', 'batches retried one send at a time', ['query']);
    this.checks = new RequestBatcher({
      maxBatch: MAX_BATCH,
      maxInFlight: MAX_BATCHES_IN_FLIGHT,
      runBatch: (requests) => messages.sendChecks(requests),
      runOne: async (request) => (await messages.sendChecks([request]))[0],
      onBatch: (size) => sizes.observe({ query: 'checks' }, size),
      onBatchFailed: (err, size) => {
        failures.inc({ query: 'checks' });
        logger.warn({ err, size }, 'batched send checks failed; checking one by one');
      },
    });
    this.appends = new RequestBatcher({
      maxBatch: MAX_BATCH,
      maxInFlight: MAX_BATCHES_IN_FLIGHT,
      runBatch: (batch) => messages.appendBatch(batch),
      runOne: (message) => messages.appendChecked(message),
      keysOf: usersLockedBy,
      onBatch: (size) => sizes.observe({ query: 'append' }, size),
      onBatchFailed: (err, size) => {
        failures.inc({ query: 'append' });
        logger.warn({ err, size }, 'batched append failed; appending one by one');
      },
    });
  }

  /** What a send checks before it appends (see MessageRepository.sendChecks). */
  check(request: SendCheckRequest): Promise<SendChecks> {
    return this.checks.request(request);
  }

  /**
   * Stores the message with its conversation's next seq, answers a resend
   * with the stored one, or refuses it: the send's checks (recipient, blocks)
   * are made in the same statement, for a send whose conversation exists.
   */
  append(message: NewMessage): Promise<CheckedAppendResult> {
    // A resend while the first is still being written (same batch or one in
    // flight) waits for it and is answered with it: sending both would fail
    // the later batch on the unique key and make it retry one by one.
    const key = resendKeyOf(message);
    const pending = this.pendingAppends.get(key);
    if (pending) return pending.then((first) => ('refused' in first ? first : { stored: false, message: first.message }));
    const appended = this.appends.request(message);
    this.pendingAppends.set(key, appended);
    const forget = () => this.pendingAppends.delete(key);
    appended.then(forget, forget);
    return appended;
  }
}
