/**
 * Network conditions a test client applies to its own packets, per leg and
 * direction: random loss, burst loss (Gilbert–Elliott), a fixed delay,
 * jitter, and a bandwidth cap (a token bucket in front of a bounded queue).
 */
export interface GilbertElliott {
  /** Chance per packet of moving from the good to the bad state. */
  pGoodToBad: number;
  /** Chance per packet of moving from the bad back to the good state (mean burst: 1 / this). */
  pBadToGood: number;
  /** Loss chance while bad (default 1). */
  lossInBad?: number;
  /** Loss chance while good (default 0). */
  lossInGood?: number;
}

export interface NetworkConditions {
  /** Independent loss chance per packet, 0..1. */
  lossRate?: number;
  burst?: GilbertElliott;
  /** Added to every packet. */
  delayMs?: number;
  /** Extra delay per packet, uniform in [0, jitterMs] (packets may overtake each other, as on a real path). */
  jitterMs?: number;
  /** Cap in kilobits per second, counting IP and UDP headers (28 bytes a datagram). */
  bandwidthKbps?: number;
  /** Bytes that may wait for the cap; beyond, packets are dropped (default: 250 ms at the cap). */
  queueBytes?: number;
}

export type NetworkProfileName = 'good' | '3g' | 'lossy' | 'bursty' | 'congested';

/**
 * Named conditions. `congested` caps each leg at 96 kbit/s: above what the
 * Opus tone needs (about 40 kbit/s with headers) and below the test clip's
 * video (about 150 kbit/s with headers), so it hurts video and not voice.
 */
export const NETWORK_PROFILES: Readonly<Record<NetworkProfileName, Readonly<NetworkConditions>>> = {
  good: { delayMs: 20, jitterMs: 2 },
  '3g': { delayMs: 120, jitterMs: 30, lossRate: 0.01, bandwidthKbps: 768, queueBytes: 48_000 },
  lossy: { delayMs: 40, jitterMs: 10, lossRate: 0.1 },
  bursty: { delayMs: 40, jitterMs: 10, burst: { pGoodToBad: 0.02, pBadToGood: 0.25 } },
  congested: { delayMs: 40, jitterMs: 5, bandwidthKbps: 96, queueBytes: 6_000 },
};

export const NETWORK_PROFILE_NAMES = Object.keys(NETWORK_PROFILES) as NetworkProfileName[];

const MAX_DELAY_MS = 10_000;

type Check = (value: unknown) => string | null;
const probability: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? null : 'must be a number from 0 to 1');
const positiveProbability: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1 ? null : 'must be a number above 0 and at most 1';
const delay: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_DELAY_MS
    ? null
    : `must be a number of milliseconds from 0 to ${MAX_DELAY_MS}`;
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'must be a number above 0');

const FIELDS: Record<keyof NetworkConditions, Check> = {
  lossRate: probability,
  burst: () => null, // checked field by field below
  delayMs: delay,
  jitterMs: delay,
  bandwidthKbps: positive,
  queueBytes: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1500 ? null : 'must be a whole number of bytes, at least 1500'),
};
const BURST_FIELDS: Record<keyof GilbertElliott, Check> = {
  pGoodToBad: positiveProbability,
  pBadToGood: positiveProbability,
  lossInBad: probability,
  lossInGood: probability,
};

/**
 * Null when `value` is valid network conditions, else a message naming the
 * first bad field (`path` prefixes it, e.g. "profiles.alice.up").
 */
export function validateNetworkConditions(value: unknown, path = 'conditions'): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path} must be an object`;
  for (const [key, field] of Object.entries(value)) {
    const check = FIELDS[key as keyof NetworkConditions];
    if (!check) return `${path}.${key} is not a known field (known: ${Object.keys(FIELDS).join(', ')})`;
    if (field === undefined) continue;
    const problem = check(field);
    if (problem) return `${path}.${key} ${problem}`;
  }
  const burst: unknown = Reflect.get(value, 'burst');
  if (burst !== undefined) {
    if (typeof burst !== 'object' || burst === null || Array.isArray(burst)) return `${path}.burst must be an object`;
    for (const key of ['pGoodToBad', 'pBadToGood'] as const) {
      if (!(key in burst)) return `${path}.burst.${key} is required`;
    }
    for (const [key, field] of Object.entries(burst)) {
      const check = BURST_FIELDS[key as keyof GilbertElliott];
      if (!check) return `${path}.burst.${key} is not a known field (known: ${Object.keys(BURST_FIELDS).join(', ')})`;
      const problem = check(field);
      if (problem) return `${path}.burst.${key} ${problem}`;
    }
  }
  return null;
}

/** A profile by name, or conditions given in full; throws with the validator's message. */
export function resolveNetworkConditions(profile: NetworkProfileName | NetworkConditions, path = 'profile'): NetworkConditions {
  if (typeof profile === 'string') {
    const named = NETWORK_PROFILES[profile as NetworkProfileName];
    if (!named) throw new RangeError(`${path} "${profile}" is not a profile (known: ${NETWORK_PROFILE_NAMES.join(', ')})`);
    return named;
  }
  const problem = validateNetworkConditions(profile, path);
  if (problem) throw new RangeError(problem);
  return profile;
}

/** Long-run loss of a Gilbert–Elliott channel: the stationary share of each state times its loss. */
export function gilbertElliottLossRate(model: GilbertElliott): number {
  const bad = model.pGoodToBad / (model.pGoodToBad + model.pBadToGood);
  return bad * (model.lossInBad ?? 1) + (1 - bad) * (model.lossInGood ?? 0);
}
