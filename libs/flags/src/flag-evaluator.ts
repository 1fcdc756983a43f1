import crypto from 'node:crypto';

export interface FlagRule {
  key: string;
  enabled: boolean;
  rolloutPercent: number;
  allowUserIds: string[];
  denyUserIds: string[];
}

/** Which rule decided an evaluation; the OpenFeature provider reports it as the reason. */
export type FlagDecision = 'denied' | 'disabled' | 'allowed' | 'rollout_in' | 'rollout_out';

/** A user's stable place in [0, 100) for a flag: same key and user, same bucket, every time. */
export function rolloutBucket(key: string, userId: string): number {
  const digest = crypto.createHash('sha256').update(`${key}:${userId}`).digest();
  return (digest.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

/** The protocol's evaluation order: deny, kill switch, allow, sticky percentage. */
export function decideFlag(rule: FlagRule, userId: string): FlagDecision {
  if (rule.denyUserIds.includes(userId)) return 'denied';
  if (!rule.enabled) return 'disabled';
  if (rule.allowUserIds.includes(userId)) return 'allowed';
  return rolloutBucket(rule.key, userId) < rule.rolloutPercent ? 'rollout_in' : 'rollout_out';
}

export function isOnDecision(decision: FlagDecision): boolean {
  return decision === 'allowed' || decision === 'rollout_in';
}

export function evaluateFlag(rule: FlagRule, userId: string): boolean {
  return isOnDecision(decideFlag(rule, userId));
}
