import type { types as ms } from 'mediasoup';
import type { CallQualityLegDto, MediaKind, MediaStatsDto, MediaStatsLegDto } from '@app/contracts';

/** One RTP stream as mediasoup counted it (producer: what arrived; consumer: what was sent). */
export interface StreamStats {
  id: string;
  kind: string;
  /** For consumers: the producer they carried. */
  producerId?: string;
  mimeType?: string;
  packets: number;
  bytes: number;
  packetsLost: number;
  /** Highest fraction lost reported (0-255, as RTCP carries it). */
  fractionLost: number;
  /** Interarrival jitter in RTP timestamp units, highest of the streams. */
  jitter: number;
  score?: number;
  /** Round-trip time in ms, when RTCP gave one. */
  rttMs?: number;
}

/** The fields producer and consumer stats share (consumers' outbound streams carry no jitter of their own). */
type RtpStreamStat = Pick<
  ms.ProducerStat,
  'type' | 'mimeType' | 'packetCount' | 'byteCount' | 'packetsLost' | 'fractionLost' | 'score' | 'roundTripTime'
> & { jitter?: number };

function summarise(streams: RtpStreamStat[]): Omit<StreamStats, 'id' | 'kind' | 'producerId'> {
  const rtts = streams.map((s) => s.roundTripTime).filter((r): r is number => typeof r === 'number' && r > 0);
  return {
    mimeType: streams[0]?.mimeType,
    packets: streams.reduce((n, s) => n + (s.packetCount ?? 0), 0),
    bytes: streams.reduce((n, s) => n + (s.byteCount ?? 0), 0),
    packetsLost: streams.reduce((n, s) => n + Math.max(0, s.packetsLost ?? 0), 0),
    fractionLost: Math.max(0, ...streams.map((s) => s.fractionLost ?? 0)),
    jitter: Math.max(0, ...streams.map((s) => s.jitter ?? 0)),
    score: streams.length > 0 ? Math.min(...streams.map((s) => s.score ?? 0)) : undefined,
    rttMs: rtts.length > 0 ? Math.max(...rtts) : undefined,
  };
}

/** A producer's stats are its inbound RTP streams (one per simulcast layer). */
export function summariseProducerStats(id: string, kind: string, stats: RtpStreamStat[]): StreamStats {
  return { id, kind, ...summarise(stats.filter((s) => s.type === 'inbound-rtp')) };
}

/** A consumer's stats also repeat its producer's stream; only the outbound one is the consumer's. */
export function summariseConsumerStats(id: string, producerId: string, kind: string, stats: RtpStreamStat[]): StreamStats {
  return { id, kind, producerId, ...summarise(stats.filter((s) => s.type === 'outbound-rtp')) };
}

/** RTP timestamp units per second: Opus 48 kHz, the video codecs 90 kHz. */
const CLOCK_RATE: Record<MediaKind, number> = { audio: 48_000, video: 90_000 };

export function jitterMs(kind: MediaKind, rtpUnits: number): number {
  return (rtpUnits / CLOCK_RATE[kind]) * 1000;
}

/**
 * Upper bounds (ms) of the jitter histogram's buckets: a call's percentiles
 * come from these counts, so a leg's memory is the same after a minute or an
 * hour. The last bucket takes everything above 1 s.
 */
const JITTER_BOUNDS_MS = [1, 2, 3, 5, 7.5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000];

export class JitterHistogram {
  private readonly counts = new Array<number>(JITTER_BOUNDS_MS.length + 1).fill(0);
  private total = 0;

  add(ms: number): void {
    let i = JITTER_BOUNDS_MS.findIndex((bound) => ms <= bound);
    if (i < 0) i = JITTER_BOUNDS_MS.length;
    this.counts[i]++;
    this.total++;
  }

  /** The bound of the bucket holding the q-quantile (0 with no values): never under the true value. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return JITTER_BOUNDS_MS[Math.min(i, JITTER_BOUNDS_MS.length - 1)];
    }
    return JITTER_BOUNDS_MS[JITTER_BOUNDS_MS.length - 1];
  }
}

export type LegDirection = 'up' | 'down';

interface Counters {
  bytes: number;
  packets: number;
  packetsLost: number;
}

const ZERO: Counters = { bytes: 0, packets: 0, packetsLost: 0 };

function add(a: Counters, b: Counters): Counters {
  return { bytes: a.bytes + b.bytes, packets: a.packets + b.packets, packetsLost: a.packetsLost + b.packetsLost };
}

/**
 * One leg of a call (a participant, a direction, a kind) over the whole
 * call, whatever streams carried it: a producer or consumer that is
 * replaced or closed folds its last counts into the leg and is forgotten,
 * so a leg holds only its live streams' latest counts and fixed-size
 * summaries.
 */
export class LegAccumulator {
  /** Counts of the streams that closed, folded. */
  private folded: Counters = ZERO;
  /** The latest counts of each live stream. */
  private readonly live = new Map<string, Counters>();
  /** The leg's totals when it was last sampled (a sample's figures are the difference). */
  private atLastSample: Counters = ZERO;
  private activeMs = 0;
  private readonly jitter = new JitterHistogram();
  private scoreMin?: number;
  private scoreSum = 0;
  private scoreCount = 0;

  constructor(
    readonly userId: string,
    readonly direction: LegDirection,
    readonly kind: MediaKind,
  ) {}

  /** A live stream's latest cumulative counts. */
  update(streamId: string, stream: Counters): void {
    this.live.set(streamId, { bytes: stream.bytes, packets: stream.packets, packetsLost: stream.packetsLost });
  }

  /** The stream closed: its last counts stay in the leg, the stream itself is forgotten. */
  retire(streamId: string): void {
    const last = this.live.get(streamId);
    if (!last) return;
    this.folded = add(this.folded, last);
    this.live.delete(streamId);
  }

  get liveStreams(): number {
    return this.live.size;
  }

  totals(): Counters {
    let sum = this.folded;
    for (const c of this.live.values()) sum = add(sum, c);
    return sum;
  }

  /**
   * Closes an interval of `intervalMs`: what the leg carried since the last
   * sample, with the interval's jitter (RTP units), score and RTT. Undefined
   * when the leg carried nothing and has no live stream (it ended before).
   */
  sample(intervalMs: number, observed: { jitter?: number; score?: number; rttMs?: number }): CallQualityLegDto | undefined {
    const now = this.totals();
    const delta = {
      bytes: Math.max(0, now.bytes - this.atLastSample.bytes),
      packets: Math.max(0, now.packets - this.atLastSample.packets),
      packetsLost: Math.max(0, now.packetsLost - this.atLastSample.packetsLost),
    };
    this.atLastSample = now;
    if (this.live.size === 0 && delta.packets === 0 && delta.bytes === 0) return undefined;
    this.activeMs += intervalMs;
    const jitterMsValue = observed.jitter !== undefined ? jitterMs(this.kind, observed.jitter) : 0;
    if (delta.packets > 0) this.jitter.add(jitterMsValue);
    if (observed.score !== undefined) {
      this.scoreMin = Math.min(this.scoreMin ?? 10, observed.score);
      this.scoreSum += observed.score;
      this.scoreCount++;
    }
    const leg: CallQualityLegDto = {
      userId: this.userId,
      direction: this.direction,
      kind: this.kind,
      bitrateBps: intervalMs > 0 ? Math.round((delta.bytes * 8 * 1000) / intervalMs) : 0,
      packets: delta.packets,
      packetsLost: delta.packetsLost,
      lossRatio: lossRatio(delta),
      jitterMs: round2(jitterMsValue),
    };
    if (observed.rttMs !== undefined) leg.rttMs = round2(observed.rttMs);
    if (observed.score !== undefined) leg.score = clampScore(observed.score);
    return leg;
  }

  summary(): MediaStatsLegDto {
    const totals = this.totals();
    const leg: MediaStatsLegDto = {
      userId: this.userId,
      direction: this.direction,
      kind: this.kind,
      bytes: totals.bytes,
      packets: totals.packets,
      packetsLost: totals.packetsLost,
      lossRatio: lossRatio(totals),
      jitterMsP50: this.jitter.quantile(0.5),
      jitterMsP95: this.jitter.quantile(0.95),
      bitrateBpsMean: this.activeMs > 0 ? Math.round((totals.bytes * 8 * 1000) / this.activeMs) : 0,
    };
    if (this.scoreCount > 0) {
      leg.scoreMin = clampScore(this.scoreMin!);
      leg.scoreMean = clampScore(round2(this.scoreSum / this.scoreCount));
    }
    return leg;
  }

  carriedAnything(): boolean {
    const t = this.totals();
    return t.packets > 0 || t.bytes > 0;
  }
}

/**
 * A call's legs, at most one per participant, direction and kind (8 for
 * two participants), and how long they were sampled.
 */
export class CallLegs {
  private readonly legs = new Map<string, LegAccumulator>();
  private sampledMs = 0;

  leg(userId: string, direction: LegDirection, kind: MediaKind): LegAccumulator {
    const key = `${userId}|${direction}|${kind}`;
    let leg = this.legs.get(key);
    if (!leg) {
      leg = new LegAccumulator(userId, direction, kind);
      this.legs.set(key, leg);
    }
    return leg;
  }

  get size(): number {
    return this.legs.size;
  }

  addSampledTime(ms: number): void {
    this.sampledMs += ms;
  }

  all(): LegAccumulator[] {
    return [...this.legs.values()];
  }

  /** The call's statistics; null when no leg carried a packet. */
  summary(): MediaStatsDto | null {
    const carried = this.all().filter((l) => l.carriedAnything());
    if (carried.length === 0) return null;
    return { sampledSeconds: round2(this.sampledMs / 1000), legs: carried.map((l) => l.summary()) };
  }
}

function lossRatio(c: Counters): number {
  const expected = c.packets + c.packetsLost;
  return expected > 0 ? round4(c.packetsLost / expected) : 0;
}

function clampScore(score: number): number {
  return Math.min(10, Math.max(0, score));
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
