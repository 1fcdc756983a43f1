import { planWaves } from './call-traffic';
import { ringFriendships } from './sim-population';
import { SeededRandom } from './seeded-random';

describe('simulation plan', () => {
  it('befriends ring neighbours, all pairs when that covers everyone', () => {
    expect(ringFriendships(4, 8)).toHaveLength(6);
    expect(ringFriendships(2, 8)).toEqual([[0, 1]]);
    const pairs = ringFriendships(20, 8);
    expect(pairs).toHaveLength(80);
    const degree = new Array(20).fill(0);
    for (const [a, b] of pairs) {
      expect(a).toBeLessThan(b);
      degree[a]++;
      degree[b]++;
    }
    expect(new Set(degree)).toEqual(new Set([8]));
  });

  it('plans calls in waves where nobody is in two calls at once', () => {
    const waves = planWaves(ringFriendships(20, 8), 10, 10, new SeededRandom(3));
    expect(waves.flat()).toHaveLength(10);
    for (const wave of waves) {
      const users = wave.flat();
      expect(new Set(users).size).toBe(users.length);
    }
    expect(planWaves([], 5, 2, new SeededRandom(1))).toEqual([]);
    // Everyone in a call at once when the wave asks for it: 300 calls among 600 ring friends.
    expect(planWaves(ringFriendships(600, 8), 300, 300, new SeededRandom(1))).toHaveLength(1);
  });

  it('repeats its choices for the same seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    expect(Array.from({ length: 5 }, () => a.int(1000))).toEqual(Array.from({ length: 5 }, () => b.int(1000)));
  });
});
