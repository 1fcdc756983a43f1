import { MediaStatsDto, MediaStatsLegDto, responseSchemas } from '@app/contracts';

/**
 * A finished call's `media_stats` as the protocol's `mediaStats`. Rows
 * written by this version hold it as is. Rows written before it hold
 * mediasoup's counters per participant (`{ [userId]: { producers,
 * consumers } }`): those are summarised into the same legs, one per
 * participant, direction and kind, with the call's length as the sampled
 * time. Anything else reads as null: history never fails on an old row.
 */
export function storedMediaStats(stored: unknown, callSeconds: number | undefined): MediaStatsDto | null {
  if (stored === null || stored === undefined) return null;
  const current = responseSchemas.mediaStats.safeParse(stored);
  if (current.success) return current.data;
  const converted = fromPerParticipantCounters(stored, callSeconds ?? 0);
  if (!converted) return null;
  const checked = responseSchemas.mediaStats.safeParse(converted);
  return checked.success ? checked.data : null;
}

/** One stream as the earlier format kept it (mediasoup's figures, jitter in RTP clock units). */
interface EarlierStream {
  kind?: unknown;
  packets?: unknown;
  bytes?: unknown;
  packetsLost?: unknown;
  jitter?: unknown;
  score?: unknown;
}

const RTP_CLOCK_HZ = { audio: 48_000, video: 90_000 } as const;

function fromPerParticipantCounters(stored: unknown, callSeconds: number): MediaStatsDto | null {
  if (typeof stored !== 'object' || Array.isArray(stored)) return null;
  const legs: MediaStatsLegDto[] = [];
  for (const [userId, perUser] of Object.entries(stored as Record<string, unknown>)) {
    if (typeof perUser !== 'object' || perUser === null) return null;
    const { producers, consumers } = perUser as { producers?: unknown; consumers?: unknown };
    if (!Array.isArray(producers) || !Array.isArray(consumers)) return null;
    for (const [direction, streams] of [
      ['up', producers],
      ['down', consumers],
    ] as const) {
      for (const kind of ['audio', 'video'] as const) {
        const ofKind = (streams as EarlierStream[]).filter((s) => s && s.kind === kind);
        if (ofKind.length > 0) legs.push(legOf(userId, direction, kind, ofKind, callSeconds));
      }
    }
  }
  return { sampledSeconds: Math.max(0, callSeconds), legs: legs.slice(0, 8) };
}

function legOf(
  userId: string,
  direction: 'up' | 'down',
  kind: 'audio' | 'video',
  streams: EarlierStream[],
  seconds: number,
): MediaStatsLegDto {
  const sum = (field: keyof EarlierStream) => streams.reduce((n, s) => n + count(s[field]), 0);
  const bytes = sum('bytes');
  const packets = sum('packets');
  const packetsLost = sum('packetsLost');
  const jitterMs = (Math.max(0, ...streams.map((s) => count(s.jitter))) / RTP_CLOCK_HZ[kind]) * 1000;
  const scores = streams.map((s) => s.score).filter((v): v is number => typeof v === 'number' && v >= 0 && v <= 10);
  const leg: MediaStatsLegDto = {
    userId,
    direction,
    kind,
    bytes,
    packets,
    packetsLost,
    lossRatio: packets + packetsLost > 0 ? packetsLost / (packets + packetsLost) : 0,
    jitterMsP50: jitterMs,
    jitterMsP95: jitterMs,
    bitrateBpsMean: seconds > 0 ? (bytes * 8) / seconds : 0,
  };
  if (scores.length > 0) {
    leg.scoreMin = Math.min(...scores);
    leg.scoreMean = scores.reduce((a, b) => a + b, 0) / scores.length;
  }
  return leg;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
