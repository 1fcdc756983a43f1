import {
  gilbertElliottLossRate,
  NETWORK_PROFILE_NAMES,
  NETWORK_PROFILES,
  NetworkConditions,
  NetworkProfileName,
  validateNetworkConditions,
} from '@app/client';

/**
 * The experiment's network, from the command line: one of the SDK's named
 * profiles with explicit values laid over it. Every leg of every call, in
 * both directions, goes through these conditions (each leg seeded apart).
 */
export interface NetworkFlags {
  loss?: number;
  /** Chance per packet of a Gilbert–Elliott burst starting. */
  burstLoss?: number;
  /** Mean burst length, packets. */
  burstLength?: number;
  delayMs?: number;
  jitterMs?: number;
  /** 0: no cap. */
  bandwidthKbps?: number;
}

/** One impossible value, named by its flag. */
export class NetworkFlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`--${flag} ${message}`);
  }
}

const LIMITS: Record<keyof NetworkFlags, { flag: string; min: number; max: number; what: string }> = {
  loss: { flag: 'loss', min: 0, max: 1, what: 'a probability from 0 to 1' },
  burstLoss: { flag: 'burst-loss', min: 0, max: 1, what: 'a probability from 0 to 1' },
  burstLength: { flag: 'burst-length', min: 1, max: 1000, what: 'a mean burst length from 1 to 1000 packets' },
  delayMs: { flag: 'delay', min: 0, max: 10_000, what: 'a delay from 0 to 10000 ms' },
  jitterMs: { flag: 'jitter', min: 0, max: 10_000, what: 'a jitter from 0 to 10000 ms' },
  bandwidthKbps: { flag: 'bandwidth', min: 0, max: 10_000_000, what: 'a bandwidth from 0 (unlimited) to 10000000 kbit/s' },
};

const DEFAULT_BURST_LENGTH = 4;

export const isNetworkProfile = (name: string): name is NetworkProfileName => (NETWORK_PROFILE_NAMES as string[]).includes(name);

/** The profile (default `good`) with the flags laid over it; throws NetworkFlagError naming the flag at fault. */
export function experimentNetwork(profile: string | undefined, flags: NetworkFlags): NetworkConditions {
  const name = profile ?? 'good';
  if (!isNetworkProfile(name)) throw new NetworkFlagError('network', `must be one of ${NETWORK_PROFILE_NAMES.join(', ')}, got "${name}"`);
  for (const key of Object.keys(LIMITS) as (keyof NetworkFlags)[]) {
    const v = flags[key];
    if (v === undefined) continue;
    const { flag, min, max, what } = LIMITS[key];
    if (!Number.isFinite(v) || v < min || v > max) throw new NetworkFlagError(flag, `must be ${what}, got ${String(v)}`);
  }
  const c: NetworkConditions = { ...NETWORK_PROFILES[name] };
  if (flags.loss !== undefined) c.lossRate = flags.loss;
  if (flags.delayMs !== undefined) c.delayMs = flags.delayMs;
  if (flags.jitterMs !== undefined) c.jitterMs = flags.jitterMs;
  if (flags.bandwidthKbps !== undefined) {
    if (flags.bandwidthKbps > 0) c.bandwidthKbps = flags.bandwidthKbps;
    else {
      delete c.bandwidthKbps;
      delete c.queueBytes;
    }
  }
  if (flags.burstLoss !== undefined || flags.burstLength !== undefined) {
    const p = flags.burstLoss ?? c.burst?.pGoodToBad ?? 0;
    const length = flags.burstLength ?? (c.burst ? 1 / c.burst.pBadToGood : DEFAULT_BURST_LENGTH);
    if (p > 0) c.burst = { pGoodToBad: p, pBadToGood: 1 / length };
    else delete c.burst;
  }
  // The SDK's own check, in case a profile and a flag together make something it refuses.
  const problem = validateNetworkConditions(c, 'network');
  if (problem) throw new NetworkFlagError('network', `with these values: ${problem}`);
  return c;
}

/** Long-run share of packets one direction of a leg loses. */
export function expectedLossRatio(c: NetworkConditions): number {
  const random = c.lossRate ?? 0;
  const burst = c.burst ? gilbertElliottLossRate(c.burst) : 0;
  return 1 - (1 - random) * (1 - burst);
}

/** `loss 10%, delay 40 ms + 0..10 ms jitter, no cap` for the report's header. */
export function describeNetwork(c: NetworkConditions): string {
  const parts = [`loss ${((c.lossRate ?? 0) * 100).toFixed(1)}%`];
  if (c.burst) parts.push(`bursts ${(c.burst.pGoodToBad * 100).toFixed(1)}% × ${(1 / c.burst.pBadToGood).toFixed(1)} packets`);
  parts.push(`delay ${c.delayMs ?? 0} ms + 0..${c.jitterMs ?? 0} ms jitter`);
  parts.push(c.bandwidthKbps ? `${c.bandwidthKbps} kbit/s cap` : 'no bandwidth cap');
  return parts.join(', ');
}
