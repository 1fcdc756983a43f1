import type { types as ms } from 'mediasoup';
import type { MediaStatsDto, MediaStatsLegDto } from '@app/contracts';

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
}

export interface ParticipantMediaStats {
  producers: StreamStats[];
  consumers: StreamStats[];
}

/**
 * Per-call media figures stored with the call when it ends, keyed by the
 * participant's user id.
 */
export interface CallMediaStats {
  [userId: string]: ParticipantMediaStats;
}

/** The fields producer and consumer stats share (consumers' outbound streams carry no jitter of their own). */
type RtpStreamStat = Pick<
  ms.ProducerStat,
  'type' | 'mimeType' | 'packetCount' | 'byteCount' | 'packetsLost' | 'fractionLost' | 'score'
> & { jitter?: number };

function summarise(streams: RtpStreamStat[]): Omit<StreamStats, 'id' | 'kind' | 'producerId'> {
  return {
    mimeType: streams[0]?.mimeType,
    packets: streams.reduce((n, s) => n + (s.packetCount ?? 0), 0),
    bytes: streams.reduce((n, s) => n + (s.byteCount ?? 0), 0),
    packetsLost: streams.reduce((n, s) => n + (s.packetsLost ?? 0), 0),
    fractionLost: Math.max(0, ...streams.map((s) => s.fractionLost ?? 0)),
    jitter: Math.max(0, ...streams.map((s) => s.jitter ?? 0)),
    score: streams.length > 0 ? Math.min(...streams.map((s) => s.score ?? 0)) : undefined,
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

const CLOCK_RATE = { audio: 48_000, video: 90_000 } as const;

/** Per participant, direction and kind: the streams folded into one leg each. */
export function toMediaStatsDto(collected: Record<string, ParticipantMediaStats>, sampledSeconds: number): MediaStatsDto | null {
  const legs: MediaStatsLegDto[] = [];
  for (const [userId, stats] of Object.entries(collected)) {
    for (const [direction, streams] of [['up', stats.producers], ['down', stats.consumers]] as const) {
      for (const kind of ['audio', 'video'] as const) {
        const mine = streams.filter((s) => s.kind === kind);
        if (mine.length === 0) continue;
        const bytes = mine.reduce((n, s) => n + s.bytes, 0);
        const packets = mine.reduce((n, s) => n + s.packets, 0);
        const packetsLost = mine.reduce((n, s) => n + s.packetsLost, 0);
        const jitterMs = (Math.max(0, ...mine.map((s) => s.jitter)) / CLOCK_RATE[kind]) * 1000;
        legs.push({
          userId,
          direction,
          kind,
          bytes,
          packets,
          packetsLost,
          lossRatio: packets + packetsLost > 0 ? packetsLost / (packets + packetsLost) : 0,
          jitterMsP50: jitterMs,
          jitterMsP95: jitterMs,
          bitrateBpsMean: sampledSeconds > 0 ? (bytes * 8) / sampledSeconds : 0,
        });
      }
    }
  }
  return legs.length > 0 ? { sampledSeconds, legs: legs.slice(0, 8) } : null;
}
