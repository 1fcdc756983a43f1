import { performance } from 'node:perf_hooks';
import type { NetworkConditions } from './network-conditions';
import { SeededRandom } from './seeded-random';

/** Time as the impairment sees it: real by default, virtual in unit specs. */
export interface ImpairmentClock {
  now(): number;
  schedule(task: () => void, delayMs: number): void;
}

export const REAL_CLOCK: ImpairmentClock = {
  now: () => performance.now(),
  schedule: (task, delayMs) => void setTimeout(task, delayMs),
};

/** IPv4 + UDP headers, counted against a bandwidth cap. */
export const IP_UDP_OVERHEAD_BYTES = 28;
/** Default queue: this long at the cap. */
const DEFAULT_QUEUE_MS = 250;
/** The bucket holds this long of the rate (at least one large datagram): short bursts pass unqueued. */
const BUCKET_MS = 20;

export interface ImpairmentStats {
  submitted: number;
  /** Dropped by random or burst loss. */
  lost: number;
  /** Dropped because the bandwidth queue was full. */
  overflowed: number;
  delivered: number;
  /** Most bytes ever waiting in the queue. */
  queuePeakBytes: number;
}

/**
 * One direction of one leg under network conditions. Every packet draws the
 * same count of random numbers whatever happens to it, so the same seed and
 * the same packets give the same losses and delays; the bandwidth cap
 * depends on when packets come, as a real bottleneck does.
 * Order: loss (random, then burst) → bandwidth queue → delay and jitter.
 */
export class LinkImpairment {
  readonly stats: ImpairmentStats = { submitted: 0, lost: 0, overflowed: 0, delivered: 0, queuePeakBytes: 0 };
  private readonly random: SeededRandom;
  private bad = false;
  // Token bucket and its queue.
  private readonly bytesPerMs: number;
  private readonly bucketBytes: number;
  private readonly queueLimit: number;
  private tokens: number;
  private lastRefill: number;
  private readonly queue: { bytes: number; send: () => void }[] = [];
  private queuedBytes = 0;
  private drainScheduled = false;

  constructor(
    readonly conditions: NetworkConditions,
    seed: number,
    private readonly clock: ImpairmentClock = REAL_CLOCK,
  ) {
    this.random = new SeededRandom(seed);
    this.bytesPerMs = conditions.bandwidthKbps ? conditions.bandwidthKbps / 8 : Infinity;
    this.bucketBytes = Math.max(1500, this.bytesPerMs * BUCKET_MS);
    this.queueLimit = conditions.queueBytes ?? Math.max(1500, Math.round(this.bytesPerMs * DEFAULT_QUEUE_MS));
    this.tokens = this.bucketBytes;
    this.lastRefill = clock.now();
  }

  /** Whether these conditions change anything at all (no: callers may skip the impairment). */
  static affects(conditions: NetworkConditions | undefined): boolean {
    if (!conditions) return false;
    return Boolean(conditions.lossRate || conditions.burst || conditions.delayMs || conditions.jitterMs || conditions.bandwidthKbps);
  }

  /** Hands `deliver` on, later or never, as the conditions decide for a datagram of `bytes`. */
  submit(bytes: number, deliver: () => void): void {
    this.stats.submitted++;
    const { lossRate = 0, burst, delayMs = 0, jitterMs = 0 } = this.conditions;
    const lossDraw = this.random.next();
    const transitionDraw = this.random.next();
    const burstLossDraw = this.random.next();
    const jitterDraw = this.random.next();
    let lost = lossDraw < lossRate;
    if (burst) {
      // The state moves first, then the packet meets the state it is in.
      this.bad = this.bad ? transitionDraw >= burst.pBadToGood : transitionDraw < burst.pGoodToBad;
      const lossHere = this.bad ? (burst.lossInBad ?? 1) : (burst.lossInGood ?? 0);
      if (burstLossDraw < lossHere) lost = true;
    }
    if (lost) {
      this.stats.lost++;
      return;
    }
    const wait = delayMs + jitterDraw * jitterMs;
    const onward = () => {
      this.stats.delivered++;
      if (wait > 0) this.clock.schedule(deliver, wait);
      else deliver();
    };
    if (this.bytesPerMs === Infinity) return onward();
    this.shape(bytes + IP_UDP_OVERHEAD_BYTES, onward);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.bucketBytes, this.tokens + (now - this.lastRefill) * this.bytesPerMs);
    this.lastRefill = now;
  }

  private shape(bytes: number, send: () => void): void {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= bytes) {
      this.tokens -= bytes;
      return send();
    }
    if (this.queuedBytes + bytes > this.queueLimit) {
      this.stats.overflowed++;
      return;
    }
    this.queue.push({ bytes, send });
    this.queuedBytes += bytes;
    this.stats.queuePeakBytes = Math.max(this.stats.queuePeakBytes, this.queuedBytes);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.queue.length === 0) return;
    this.drainScheduled = true;
    const missing = Math.max(0, this.queue[0].bytes - this.tokens);
    this.clock.schedule(() => {
      this.drainScheduled = false;
      this.drain();
    }, missing / this.bytesPerMs);
  }

  private drain(): void {
    this.refill();
    while (this.queue.length > 0 && this.tokens >= this.queue[0].bytes - 1e-9) {
      const head = this.queue.shift()!;
      this.tokens -= head.bytes;
      this.queuedBytes -= head.bytes;
      head.send();
    }
    this.scheduleDrain();
  }
}

/** Both directions of one leg: `up` what the client sends, `down` what it receives. */
export interface LegConditions {
  up?: NetworkConditions;
  down?: NetworkConditions;
  /** The run's seed; each leg and direction derives its own from it and its label. */
  seed: number;
  /** Names the leg in the seed (e.g. "alice/audio/send"); legs with the same label and seed behave alike. */
  label?: string;
}

/** A virtual clock for specs: tasks run in time order as the clock is moved on. */
export class ManualClock implements ImpairmentClock {
  private time = 0;
  private readonly tasks: { at: number; order: number; task: () => void }[] = [];
  private order = 0;

  now(): number {
    return this.time;
  }

  schedule(task: () => void, delayMs: number): void {
    this.tasks.push({ at: this.time + Math.max(0, delayMs), order: this.order++, task });
  }

  /** Moves time on by `ms`, running every task that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.tasks.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.tasks[0];
      if (!next || next.at > end) break;
      this.tasks.shift();
      this.time = next.at;
      next.task();
    }
    this.time = end;
  }
}
