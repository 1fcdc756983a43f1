import type { Logger } from '@app/observability';

export interface WriteBehindOptions<E> {
  /** What the log lines name. */
  name: string;
  /** How long an entry may wait before it is written. */
  flushIntervalMs: number;
  /** Entries held at most; beyond it new keys are dropped (and counted), never queued without bound. */
  maxEntries: number;
  /** Consecutive failed writes after which a batch is given up (a batch the database refuses must not block the rest forever). */
  maxAttempts: number;
  /** Writes one batch (one statement); throws when nothing was written. */
  write: (entries: E[]) => Promise<void>;
  /** Folds a later entry of the same key into an earlier one. */
  merge: (earlier: E, later: E) => E;
  logger: Logger;
  onDropped?: (count: number) => void;
  onWriteFailed?: () => void;
}

const MAX_RETRY_DELAY_MS = 5_000;

/**
 * Entries kept in memory and written in batches: one write per interval
 * whatever the traffic, entries of the same key folded together while they
 * wait. A failed write is logged and retried with backoff; it never reaches
 * whoever added the entries. `stop()` writes what is left.
 */
export class WriteBehind<E> {
  private pending = new Map<string, E>();
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;
  private dropped = 0;

  constructor(private readonly options: WriteBehindOptions<E>) {}

  /** Entries waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  /** Entries that will not be written (buffer full, batch given up), since the start. */
  get droppedCount(): number {
    return this.dropped;
  }

  add(key: string, entry: E): void {
    const earlier = this.pending.get(key);
    if (earlier !== undefined) {
      this.pending.set(key, this.options.merge(earlier, entry));
    } else if (this.pending.size >= this.options.maxEntries) {
      this.drop(1);
      return;
    } else {
      this.pending.set(key, entry);
    }
    this.schedule(this.options.flushIntervalMs);
  }

  /** Writes everything added so far (waiting for a write already under way first). Never throws. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight) await this.inFlight;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.inFlight = this.writeBatch(batch);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = undefined;
    }
  }

  /** The last write: what is waiting is written once more (its failure logged), and nothing is scheduled after. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
    if (this.pending.size > 0) {
      this.options.logger.error({ buffer: this.options.name, lost: this.pending.size }, 'entries not written at shutdown');
      this.lose(this.pending.size);
      this.pending.clear();
    }
  }

  private async writeBatch(batch: Map<string, E>): Promise<void> {
    try {
      await this.options.write([...batch.values()]);
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      this.options.onWriteFailed?.();
      if (this.failures >= this.options.maxAttempts) {
        this.options.logger.error(
          { err, buffer: this.options.name, lost: batch.size, attempts: this.failures },
          'giving up a batch the database keeps refusing',
        );
        this.lose(batch.size);
        this.failures = 0;
        return;
      }
      this.options.logger.warn(
        { err, buffer: this.options.name, entries: batch.size, attempt: this.failures },
        'batch write failed; will retry',
      );
      this.restore(batch);
      if (!this.stopped) {
        this.schedule(Math.min(MAX_RETRY_DELAY_MS, this.options.flushIntervalMs * 2 ** this.failures), true);
      }
    }
  }

  /** A failed batch goes back in front of what arrived meanwhile, within the bound. */
  private restore(batch: Map<string, E>): void {
    const merged = new Map(batch);
    let over = 0;
    for (const [key, later] of this.pending) {
      const earlier = merged.get(key);
      if (earlier !== undefined) merged.set(key, this.options.merge(earlier, later));
      else if (merged.size < this.options.maxEntries) merged.set(key, later);
      else over += 1;
    }
    this.pending = merged;
    if (over > 0) this.drop(over);
  }

  private schedule(delayMs: number, replace = false): void {
    if (this.stopped && !replace) {
      // After stop() nothing waits for a timer: write at once.
      void this.flush();
      return;
    }
    if (this.timer && !replace) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delayMs);
    // A pending write must not keep a process alive that is otherwise done.
    this.timer.unref();
  }

  /** Entries that will never be written (already logged by the caller). */
  private lose(count: number): void {
    this.dropped += count;
    this.options.onDropped?.(count);
  }

  private drop(count: number): void {
    this.lose(count);
    // One line per thousand, not per entry: a full buffer is a flood.
    if (this.dropped === count || Math.floor((this.dropped - count) / 1000) !== Math.floor(this.dropped / 1000)) {
      this.options.logger.warn({ buffer: this.options.name, dropped: this.dropped }, 'buffer full; entries dropped');
    }
  }
}
