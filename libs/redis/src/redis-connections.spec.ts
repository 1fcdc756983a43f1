import { createRootLogger } from '@app/observability';
import { RedisConnections } from './redis-connections';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe(RedisConnections.name, () => {
  const logger = createRootLogger('silent');

  it('is unused without a URL and refuses to open anything', () => {
    const redis = new RedisConnections(undefined, logger);
    expect(redis.enabled).toBe(false);
    expect(redis.state()).toBe('unused');
    expect(() => redis.open('rate-limits')).toThrow(/without REDIS_URL/);
  });

  it('hands out each named connection once, reports required ones to readiness and closes subscribers before publishers', async () => {
    const redis = new RedisConnections(REDIS_URL, logger);
    const pub = redis.open('adapter-pub', { required: true });
    const sub = redis.duplicate('adapter-pub', 'adapter-sub', { role: 'subscriber', required: true });
    const limits = redis.open('rate-limits');
    expect(() => redis.open('rate-limits')).toThrow(/already open/);
    expect(redis.connection('adapter-sub')).toBe(sub);
    expect(() => redis.connection('socket-places')).toThrow(/never opened/);
    // Not connected yet: a required connection is down.
    expect(redis.state()).toBe('down');
    await Promise.all([pub.connect(), sub.connect(), limits.connect()]);
    expect(redis.state()).toBe('up');
    expect(redis.states()).toEqual({ 'adapter-pub': 'up', 'adapter-sub': 'up', 'rate-limits': 'up' });
    expect(await pub.sendCommand(['CLIENT', 'GETNAME'])).toBe(`${redis.tag}:adapter-pub`);

    const ended: string[] = [];
    pub.on('end', () => ended.push('adapter-pub'));
    limits.on('end', () => ended.push('rate-limits'));
    sub.on('end', () => ended.push('adapter-sub'));
    await Promise.all([redis.closeAll(), redis.closeAll()]);
    expect(ended[0]).toBe('adapter-sub');
    expect(ended.slice(1).sort()).toEqual(['adapter-pub', 'rate-limits']);
    expect([pub.isOpen, sub.isOpen, limits.isOpen]).toEqual([false, false, false]);
  });
});
