import crypto from 'node:crypto';

export interface FlagRule {
  key: string;
  enabled: boolean;
  rolloutPercent: number;
  allowUserIds: string[];
  denyUserIds: string[];
}

/** A user's stable place in [0, 100) for a flag: same key and user, same bucket, every time. */
export function rolloutBucket(key: string, userId: string): number {
  const digest = crypto.createHash('sha256').update(`${key}:${userId}`).digest();
  return (digest.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

/** The protocol's evaluation order: deny, kill switch, allow, sticky percentage. */
export function evaluateFlag(rule: FlagRule, userId: string): boolean {
  if (rule.denyUserIds.includes(userId)) return false;
  if (!rule.enabled) return false;
  if (rule.allowUserIds.includes(userId)) return true;
  return rolloutBucket(rule.key, userId) < rule.rolloutPercent;
}
