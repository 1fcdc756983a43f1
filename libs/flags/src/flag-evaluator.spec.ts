import crypto from 'node:crypto';
import { FlagRule, decideFlag, evaluateFlag, rolloutBucket } from './flag-evaluator';

const rule = (overrides: Partial<FlagRule> = {}): FlagRule => ({
  key: 'video_call',
  enabled: true,
  rolloutPercent: 0,
  allowUserIds: [],
  denyUserIds: [],
  ...overrides,
});

const users = (n: number, seed: string) =>
  Array.from({ length: n }, (_, i) => {
    // Deterministic uuid-shaped ids, so the test gives the same answer every run.
    const h = crypto.createHash('sha256').update(`${seed}:${i}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  });

describe('evaluateFlag', () => {
  const alice = '11111111-1111-4111-8111-111111111111';

  it('is off when the kill switch is off, whatever the allow list and percentage say', () => {
    expect(evaluateFlag(rule({ enabled: false, allowUserIds: [alice], rolloutPercent: 100 }), alice)).toBe(false);
    expect(decideFlag(rule({ enabled: false }), alice)).toBe('disabled');
  });

  it('lets the deny list win over everything, the kill switch included', () => {
    const r = rule({ enabled: true, rolloutPercent: 100, allowUserIds: [alice], denyUserIds: [alice] });
    expect(evaluateFlag(r, alice)).toBe(false);
    expect(decideFlag(r, alice)).toBe('denied');
    expect(decideFlag(rule({ enabled: false, denyUserIds: [alice] }), alice)).toBe('denied');
  });

  it('turns it on for allow-listed users at 0 %, and only for them', () => {
    const r = rule({ rolloutPercent: 0, allowUserIds: [alice] });
    expect(decideFlag(r, alice)).toBe('allowed');
    for (const other of users(50, 'allow')) expect(evaluateFlag(r, other)).toBe(false);
  });

  it('is on for everyone at 100 % and off for everyone at 0 %', () => {
    for (const id of users(200, 'edges')) {
      expect(evaluateFlag(rule({ rolloutPercent: 100 }), id)).toBe(true);
      expect(evaluateFlag(rule({ rolloutPercent: 0 }), id)).toBe(false);
    }
  });

  it.each([10, 25, 50, 90])('puts %i %% of 1,000 users in the rollout, within a few points', (percent) => {
    const ids = users(1000, `share-${percent}`);
    const on = ids.filter((id) => evaluateFlag(rule({ rolloutPercent: percent }), id)).length;
    expect(Math.abs(on / 10 - percent)).toBeLessThanOrEqual(4);
  });

  it('is sticky: the same user gets the same answer every time, and raising the percentage only adds users', () => {
    const ids = users(1000, 'sticky');
    const at30 = ids.map((id) => evaluateFlag(rule({ rolloutPercent: 30 }), id));
    expect(ids.map((id) => evaluateFlag(rule({ rolloutPercent: 30 }), id))).toEqual(at30);
    const at60 = ids.map((id) => evaluateFlag(rule({ rolloutPercent: 60 }), id));
    at30.forEach((on, i) => on && expect(at60[i]).toBe(true));
  });

  it('buckets by key and user, so two flags at the same percentage pick different users', () => {
    const ids = users(1000, 'keys');
    const a = ids.map((id) => evaluateFlag(rule({ key: 'flag_a', rolloutPercent: 50 }), id));
    const b = ids.map((id) => evaluateFlag(rule({ key: 'flag_b', rolloutPercent: 50 }), id));
    const same = a.filter((v, i) => v === b[i]).length;
    expect(same).toBeGreaterThan(400);
    expect(same).toBeLessThan(600);
  });

  it('places buckets in [0, 100)', () => {
    for (const id of users(500, 'range')) {
      const bucket = rolloutBucket('video_call', id);
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(100);
    }
  });
});
