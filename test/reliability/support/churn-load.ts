import { DEFAULT_SIM_OPTIONS, SimOptions } from '../../../apps/sim/src/simulation';

/** Length of a churn soak (SOAK_CHURN_MS); at least 10 minutes by default. */
export const CHURN_MS = Number(process.env.SOAK_CHURN_MS ?? 10 * 60_000);
/** Memory after this share of the run is the baseline (start-up, JIT and pools warmed). */
export const WARM_UP_SHARE = 0.2;

/**
 * The churn both soaks run, one process or a cluster alike, for CHURN_MS:
 * 60 users, 20 calls of 4 s at a time, 30 messages a second.
 */
export function churnLoad(gateways: Pick<SimOptions, 'url' | 'urls'>): SimOptions {
  return {
    ...DEFAULT_SIM_OPTIONS,
    ...gateways,
    users: 60,
    friendsPerUser: 6,
    messageRate: 30,
    callSeconds: 4,
    concurrentCalls: 20,
    callRate: 10,
    settleMs: 5000,
    durationMs: CHURN_MS,
    seed: 16,
  };
}
