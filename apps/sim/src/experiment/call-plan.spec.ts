import { ringFriendships } from '../sim-population';
import { assignCohorts, CallPlanner, PlannedCall } from './call-plan';

describe('assignCohorts', () => {
  it('puts the share of users in the video cohort, the same ones for the same seed', () => {
    const a = assignCohorts(10, 0.5, 7);
    expect(a.filter((c) => c === 'video')).toHaveLength(5);
    expect(assignCohorts(10, 0.5, 7)).toEqual(a);
    expect(assignCohorts(10, 0.5, 8)).not.toEqual(a);
    expect(assignCohorts(10, 0, 7).every((c) => c === 'voice')).toBe(true);
    expect(assignCohorts(10, 1, 7).every((c) => c === 'video')).toBe(true);
    expect(assignCohorts(7, 0.3, 1).filter((c) => c === 'video')).toHaveLength(2);
  });
});

describe('CallPlanner', () => {
  const friendships = ringFriendships(8, 4);
  const cohorts = assignCohorts(8, 0.5, 3);
  const options = { minTalkMs: 3000, maxTalkMs: 20_000 };

  /** Plans `n` calls with at most two talking at once: each new call frees the one planned two before it. */
  const planRun = (seed: number, n: number): PlannedCall[] => {
    const planner = new CallPlanner(friendships, cohorts, seed, options);
    const busy = new Set<number>();
    const out: PlannedCall[] = [];
    for (let i = 0; i < n; i++) {
      const call = planner.next(busy);
      if (!call) break;
      out.push(call);
      busy.add(call.caller);
      busy.add(call.callee);
      if (i >= 1) {
        busy.delete(out[i - 1].caller);
        busy.delete(out[i - 1].callee);
      }
    }
    return out;
  };

  it('plans the same calls for the same seed and the same busy users', () => {
    const a = planRun(11, 30);
    expect(a.length).toBeGreaterThan(10);
    expect(planRun(11, 30)).toEqual(a);
    expect(planRun(12, 30)).not.toEqual(a);
  });

  it('picks friends who are free, places video only between two video users, and a length in range', () => {
    const planner = new CallPlanner(friendships, cohorts, 5, options);
    const friends = new Set(friendships.map(([a, b]) => `${a}:${b}`));
    for (let i = 0; i < 200; i++) {
      const busy = new Set([i % 8, (i + 3) % 8]);
      const call = planner.next(busy)!;
      expect(busy.has(call.caller) || busy.has(call.callee)).toBe(false);
      expect(friends.has(`${Math.min(call.caller, call.callee)}:${Math.max(call.caller, call.callee)}`)).toBe(true);
      expect(call.media).toBe(cohorts[call.caller] === 'video' && cohorts[call.callee] === 'video' ? 'video' : 'audio');
      expect(call.cohort).toBe(cohorts[call.caller]);
      expect(call.talkMs).toBeGreaterThanOrEqual(3000);
      expect(call.talkMs).toBeLessThanOrEqual(20_000);
      expect(call.index).toBe(i);
    }
  });

  it('plans nothing when every pair has someone busy', () => {
    const planner = new CallPlanner(friendships, cohorts, 5, options);
    expect(planner.next(new Set([0, 1, 2, 3, 4, 5, 6, 7]))).toBeUndefined();
  });
});
