import { SeededRandom } from '../seeded-random';
import type { NetworkConditions } from './network-conditions';

/** What the link does with one packet. */
export type LinkVerdict = { drop: true; reason: 'loss' | 'burst' | 'bandwidth' } | { drop: false; delayMs: number };

/**
 * One direction of one leg: decides, packet by packet, whether it is lost
 * and how late it arrives. Seeded, so the same seed and the same packets
 * meet the same fate. Delivery order is kept (a packet never overtakes the
 * one before it), as on a real path without reordering.
 */
export class ImpairedLink {
  private readonly random: SeededRandom;
  private bad = false;
  private lastDeliveryMs = -Infinity;
  private tokens: number;
  private tokensAt = 0;
  readonly counts = { passed: 0, loss: 0, burst: 0, bandwidth: 0 };

  constructor(
    private readonly conditions: NetworkConditions,
    seed: number,
  ) {
    this.random = new SeededRandom(seed);
    // A bucket of 100 ms at the cap lets a video frame's packets through together.
    this.tokens = this.bucketBytes;
  }

  private get bucketBytes(): number {
    return (this.conditions.bandwidthKbps * 1000) / 8 / 10;
  }

  /** The fate of a packet of `bytes` sent at `nowMs`. */
  decide(bytes: number, nowMs: number): LinkVerdict {
    const c = this.conditions;
    // Gilbert–Elliott: good -> bad with burstLoss, bad -> good with 1/burstLength.
    if (c.burstLoss > 0) {
      if (this.bad) this.bad = this.random.next() >= 1 / c.burstLength;
      else this.bad = this.random.next() < c.burstLoss;
    }
    if (this.bad) return this.lost('burst');
    if (c.loss > 0 && this.random.next() < c.loss) return this.lost('loss');
    if (c.bandwidthKbps > 0) {
      const rate = (c.bandwidthKbps * 1000) / 8 / 1000; // bytes per ms
      this.tokens = Math.min(this.bucketBytes, this.tokens + (nowMs - this.tokensAt) * rate);
      this.tokensAt = nowMs;
      if (this.tokens < bytes) return this.lost('bandwidth');
      this.tokens -= bytes;
    }
    const jitter = c.jitterMs > 0 ? (this.random.next() * 2 - 1) * c.jitterMs : 0;
    const delivery = Math.max(nowMs + Math.max(0, c.delayMs + jitter), this.lastDeliveryMs);
    this.lastDeliveryMs = delivery;
    this.counts.passed++;
    return { drop: false, delayMs: delivery - nowMs };
  }

  private lost(reason: 'loss' | 'burst' | 'bandwidth'): LinkVerdict {
    this.counts[reason]++;
    return { drop: true, reason };
  }
}

/** A seed per leg and direction, from the run's seed, so legs do not lose the same packets. */
export function linkSeed(runSeed: number, callIndex: number, leg: number): number {
  return (Math.imul(runSeed ^ 0x9e3779b9, 31) + Math.imul(callIndex + 1, 0x85ebca6b) + leg * 0x27d4eb2f) >>> 0;
}
