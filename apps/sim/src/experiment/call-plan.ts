import { SeededRandom } from '../seeded-random';

export type Cohort = 'video' | 'voice';
export const COHORTS: readonly Cohort[] = ['video', 'voice'];

/**
 * Which users get the video_call flag: a seeded share of them (rounded),
 * the same users for the same seed, user count and share.
 */
export function assignCohorts(users: number, share: number, seed: number): Cohort[] {
  const random = new SeededRandom(seed ^ 0x5eed_c0de);
  const chosen = new Set(random.shuffle(Array.from({ length: users }, (_, i) => i)).slice(0, Math.round(share * users)));
  return Array.from({ length: users }, (_, i) => (chosen.has(i) ? 'video' : 'voice'));
}

export interface PlannedCall {
  /** Order in which calls were planned: 0, 1, 2... */
  index: number;
  caller: number;
  callee: number;
  /** Video when both have the flag, voice otherwise (what the call is placed as). */
  media: 'video' | 'audio';
  /** The caller's cohort: the server reports a call in the variant of its caller. */
  cohort: Cohort;
  /** How long both sides talk once media flows, ms. */
  talkMs: number;
}

export interface CallPlannerOptions {
  minTalkMs: number;
  maxTalkMs: number;
}

/**
 * Plans calls between random friends for the whole run, deterministically
 * from the seed: each next() picks a pair of friends who are both free,
 * a caller, and a planned length. Given the same seed and the same
 * sequence of busy sets, it plans the same calls.
 */
export class CallPlanner {
  private readonly random: SeededRandom;
  private count = 0;

  constructor(
    private readonly friendships: readonly [number, number][],
    private readonly cohorts: readonly Cohort[],
    seed: number,
    private readonly options: CallPlannerOptions,
  ) {
    this.random = new SeededRandom(seed ^ 0xca11_5eed);
  }

  next(busy: ReadonlySet<number>): PlannedCall | undefined {
    const free = this.friendships.filter(([a, b]) => !busy.has(a) && !busy.has(b));
    if (free.length === 0) return undefined;
    const [a, b] = this.random.pick(free);
    const [caller, callee] = this.random.next() < 0.5 ? [a, b] : [b, a];
    const { minTalkMs, maxTalkMs } = this.options;
    const talkMs = Math.round(minTalkMs + this.random.next() * (maxTalkMs - minTalkMs));
    const both = this.cohorts[caller] === 'video' && this.cohorts[callee] === 'video';
    return { index: this.count++, caller, callee, media: both ? 'video' : 'audio', cohort: this.cohorts[caller], talkMs };
  }
}
