import type { LatencySummary } from '../support/latency-samples';

export type CallSetupResult =
  | { calls: number; failed: number; total: LatencySummary; server: LatencySummary; client: LatencySummary }
  | { calls: number; unavailable: string };

export async function runCallSetupBench(o: { calls: number }, _log: (s: string) => void): Promise<CallSetupResult> {
  return { calls: o.calls, unavailable: 'not yet implemented' };
}
