/**
 * Network conditions applied to every leg of every call in an experiment,
 * in both directions: random loss, Gilbert–Elliott burst loss, one-way
 * delay with jitter, and a bandwidth cap. Named profiles are starting
 * points; explicit values override a profile's.
 */
export interface NetworkConditions {
  /** Independent loss probability per packet, 0..1. */
  loss: number;
  /**
   * Gilbert–Elliott burst loss: the chance per packet of entering the bad
   * state (0..1, 0 = no bursts), and the mean burst length in packets
   * (every packet in the bad state is lost).
   */
  burstLoss: number;
  burstLength: number;
  /** Mean one-way delay added, ms. */
  delayMs: number;
  /** Jitter: delay varies uniformly by up to this much either way, ms (packets are not reordered). */
  jitterMs: number;
  /** Token-bucket bandwidth per leg and direction, kbit/s; 0 = unlimited. */
  bandwidthKbps: number;
}

export const NETWORK_PROFILES = {
  good: { loss: 0, burstLoss: 0, burstLength: 1, delayMs: 10, jitterMs: 2, bandwidthKbps: 0 },
  '3g': { loss: 0.01, burstLoss: 0, burstLength: 1, delayMs: 100, jitterMs: 30, bandwidthKbps: 768 },
  lossy: { loss: 0.05, burstLoss: 0, burstLength: 1, delayMs: 40, jitterMs: 10, bandwidthKbps: 0 },
  bursty: { loss: 0.005, burstLoss: 0.01, burstLength: 8, delayMs: 40, jitterMs: 15, bandwidthKbps: 0 },
  congested: { loss: 0.01, burstLoss: 0, burstLength: 1, delayMs: 80, jitterMs: 40, bandwidthKbps: 300 },
} as const satisfies Record<string, NetworkConditions>;
export type NetworkProfileName = keyof typeof NETWORK_PROFILES;

export const isNetworkProfile = (name: string): name is NetworkProfileName => Object.prototype.hasOwnProperty.call(NETWORK_PROFILES, name);

/** One impossible value, named by the command-line flag that sets it. */
export class NetworkConditionsError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`--${flag} ${message}`);
  }
}

const LIMITS: Record<keyof NetworkConditions, { flag: string; min: number; max: number; what: string }> = {
  loss: { flag: 'loss', min: 0, max: 1, what: 'a probability from 0 to 1' },
  burstLoss: { flag: 'burst-loss', min: 0, max: 1, what: 'a probability from 0 to 1' },
  burstLength: { flag: 'burst-length', min: 1, max: 1000, what: 'a mean burst length from 1 to 1000 packets' },
  delayMs: { flag: 'delay', min: 0, max: 10_000, what: 'a delay from 0 to 10000 ms' },
  jitterMs: { flag: 'jitter', min: 0, max: 10_000, what: 'a jitter from 0 to 10000 ms' },
  bandwidthKbps: { flag: 'bandwidth', min: 0, max: 10_000_000, what: 'a bandwidth from 0 (unlimited) to 10000000 kbit/s' },
};

/** Throws NetworkConditionsError naming the flag of the first impossible value. */
export function validateNetworkConditions(c: NetworkConditions): NetworkConditions {
  for (const key of Object.keys(LIMITS) as (keyof NetworkConditions)[]) {
    const { flag, min, max, what } = LIMITS[key];
    const v = c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new NetworkConditionsError(flag, `must be ${what}, got ${String(v)}`);
    }
  }
  return c;
}

/** A profile (default `good`) with explicit values laid over it, checked. */
export function resolveNetworkConditions(profile: string | undefined, overrides: Partial<NetworkConditions>): NetworkConditions {
  const name = profile ?? 'good';
  if (!isNetworkProfile(name)) {
    throw new NetworkConditionsError('network', `must be one of ${Object.keys(NETWORK_PROFILES).join(', ')}, got "${name}"`);
  }
  const merged: NetworkConditions = { ...NETWORK_PROFILES[name] };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k as keyof NetworkConditions] = v;
  return validateNetworkConditions(merged);
}

/** Long-run share of packets lost: independent loss plus the time spent in Gilbert–Elliott's bad state. */
export function expectedLossRatio(c: NetworkConditions): number {
  const badShare = c.burstLoss > 0 ? c.burstLoss / (c.burstLoss + 1 / c.burstLength) : 0;
  return badShare + (1 - badShare) * c.loss;
}
