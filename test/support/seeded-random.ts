import { SeededRandom as Mulberry32 } from '@app/client';

/** The SDK's seeded PRNG (mulberry32) with what the fuzzer draws, so a failing run replays from its seed. */
export class SeededRandom extends Mulberry32 {
  constructor(readonly seed: number) {
    super(seed);
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(0, 15).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

/** FUZZ_SEED from the environment, else a fixed default (runs are reproducible either way). */
export function fuzzSeed(defaultSeed: number): number {
  const v = process.env.FUZZ_SEED;
  return v && /^\d+$/.test(v) ? Number(v) : defaultSeed;
}
