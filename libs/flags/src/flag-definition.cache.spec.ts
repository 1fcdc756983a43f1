import { FlagDefinitionCache } from './flag-definition.cache';
import type { FlagDefinition } from './flag.repository';

const def = (key: string, updatedAt: string): FlagDefinition => ({
  key,
  description: '',
  enabled: false,
  rolloutPercent: 0,
  allowUserIds: [],
  denyUserIds: [],
  updatedAt: new Date(updatedAt),
});

describe(FlagDefinitionCache.name, () => {
  it('reports exactly the flags that were added, changed or removed on a full reload', () => {
    const cache = new FlagDefinitionCache();
    expect(cache.replaceAll([def('a', '2026-01-01'), def('b', '2026-01-01'), def('c', '2026-01-01')]).sort()).toEqual(['a', 'b', 'c']);
    const changed = cache.replaceAll([def('a', '2026-01-01'), def('b', '2026-02-01'), def('d', '2026-01-01')]);
    expect(changed.sort()).toEqual(['b', 'c', 'd']);
    expect(cache.keys()).toEqual(['a', 'b', 'd']);
    expect(cache.get('c')).toBeUndefined();
  });

  it('tells whether a definition set or deleted is news: the echo of a change already applied is not', () => {
    const cache = new FlagDefinitionCache();
    expect(cache.set(def('a', '2026-01-01'))).toBe(true);
    expect(cache.set(def('a', '2026-01-01'))).toBe(false);
    // Another rule stamped with the same millisecond is still a change.
    expect(cache.set({ ...def('a', '2026-01-01'), allowUserIds: ['u1'] })).toBe(true);
    expect(cache.set({ ...def('a', '2026-01-01'), allowUserIds: ['u1'] })).toBe(false);
    expect(cache.set({ ...def('a', '2026-01-01'), allowUserIds: ['u2'] })).toBe(true);
    expect(cache.replaceAll([{ ...def('a', '2026-01-01'), allowUserIds: ['u2'], enabled: true }])).toEqual(['a']);
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
  });
});
