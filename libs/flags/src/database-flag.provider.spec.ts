import crypto from 'node:crypto';
import { ErrorCode, NOOP_PROVIDER, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { DatabaseFlagProvider } from './database-flag.provider';
import { FlagDefinitionCache } from './flag-definition.cache';
import type { FlagDefinition } from './flag.repository';

const alice = '11111111-1111-4111-8111-111111111111';
const bob = '22222222-2222-4222-8222-222222222222';

const definition = (overrides: Partial<FlagDefinition> = {}): FlagDefinition => ({
  key: 'video_call',
  description: '',
  enabled: true,
  rolloutPercent: 0,
  allowUserIds: [alice],
  denyUserIds: [],
  updatedAt: new Date('2026-01-01T00:00:00Z'),
  ...overrides,
});

async function bind(cache: FlagDefinitionCache) {
  const domain = `spec-${crypto.randomUUID()}`;
  const provider = new DatabaseFlagProvider(cache);
  await OpenFeature.setProviderAndWait(domain, provider);
  return { domain, provider, client: OpenFeature.getClient(domain) };
}

describe(DatabaseFlagProvider.name, () => {
  const domains: string[] = [];
  afterAll(async () => {
    for (const d of domains) await OpenFeature.setProviderAndWait(d, NOOP_PROVIDER);
  });

  it('evaluates for targetingKey with the protocol rules and says why', async () => {
    const cache = new FlagDefinitionCache();
    cache.set(definition());
    const { domain, client } = await bind(cache);
    domains.push(domain);
    const forAlice = await client.getBooleanDetails('video_call', false, { targetingKey: alice });
    expect(forAlice).toMatchObject({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    const forBob = await client.getBooleanDetails('video_call', true, { targetingKey: bob });
    expect(forBob).toMatchObject({ value: false, variant: 'off', reason: 'SPLIT' });
    cache.set(definition({ enabled: false }));
    expect(await client.getBooleanDetails('video_call', true, { targetingKey: alice })).toMatchObject({
      value: false,
      reason: 'DISABLED',
    });
  });

  it('answers the default with an error code for an unknown flag or a missing user', async () => {
    const cache = new FlagDefinitionCache();
    cache.set(definition());
    const { domain, client } = await bind(cache);
    domains.push(domain);
    expect(await client.getBooleanDetails('nope', false, { targetingKey: alice })).toMatchObject({
      value: false,
      errorCode: ErrorCode.FLAG_NOT_FOUND,
    });
    expect(await client.getBooleanDetails('video_call', false, {})).toMatchObject({
      value: false,
      errorCode: ErrorCode.TARGETING_KEY_MISSING,
    });
    expect(await client.getStringDetails('video_call', 'x', { targetingKey: alice })).toMatchObject({
      value: 'x',
      errorCode: ErrorCode.TYPE_MISMATCH,
    });
  });

  it('keeps two instances apart in the one process-wide OpenFeature API', async () => {
    const on = new FlagDefinitionCache();
    on.set(definition({ allowUserIds: [bob] }));
    const off = new FlagDefinitionCache();
    off.set(definition({ enabled: false }));
    const a = await bind(on);
    const b = await bind(off);
    domains.push(a.domain, b.domain);
    expect(await a.client.getBooleanValue('video_call', false, { targetingKey: bob })).toBe(true);
    expect(await b.client.getBooleanValue('video_call', false, { targetingKey: bob })).toBe(false);
  });

  it('tells clients which flags changed', async () => {
    const cache = new FlagDefinitionCache();
    const { domain, client, provider } = await bind(cache);
    domains.push(domain);
    const seen = new Promise<string[]>((resolve) =>
      client.addHandler(ProviderEvents.ConfigurationChanged, (details) => resolve(details?.flagsChanged ?? [])),
    );
    provider.announceChanged(['video_call']);
    expect(await seen).toEqual(['video_call']);
  });
});
