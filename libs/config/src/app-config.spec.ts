import { ConfigError, loadConfig } from './app-config';

describe(loadConfig.name, () => {
  it('gives the protocol defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.adminToken).toBeUndefined();
    expect(c.calls).toEqual({
      ringTimeoutMs: 45_000,
      maxDurationMs: 3_600_000,
      warningBeforeMs: 60_000,
      reconnectGraceMs: 15_000,
      qualityIntervalMs: 5_000,
    });
    expect(c.media).toMatchObject({ listenIp: '127.0.0.1', minPort: 40_000, maxPort: 49_999 });
    expect(c.media.workers).toBeGreaterThanOrEqual(1);
    expect(c.redisUrl).toBeUndefined();
    expect(c.socketPlaceLeaseMs).toBe(5_000);
  });

  it('reads every variable of the configuration table', () => {
    const c = loadConfig({
      PORT: '4000',
      DATABASE_URL: 'postgresql://u@db:5432/x',
      ADMIN_TOKEN: 'secret-admin',
      JWT_SECRET: '0123456789abcdef0123',
      CALL_RING_TIMEOUT_MS: '1000',
      CALL_MAX_DURATION_MS: '5000',
      CALL_WARNING_BEFORE_MS: '1000',
      CALL_RECONNECT_GRACE_MS: '500',
      MEDIA_LISTEN_IP: '0.0.0.0',
      MEDIA_ANNOUNCED_IP: '203.0.113.7',
      MEDIA_MIN_PORT: '41000',
      MEDIA_MAX_PORT: '41999',
      MEDIA_WORKERS: '3',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SOCKET_PLACE_LEASE_MS: '2000',
    });
    expect(c).toMatchObject({
      port: 4000,
      databaseUrl: 'postgresql://u@db:5432/x',
      adminToken: 'secret-admin',
      jwtSecret: '0123456789abcdef0123',
      calls: { ringTimeoutMs: 1000, maxDurationMs: 5000, warningBeforeMs: 1000, reconnectGraceMs: 500, qualityIntervalMs: 5000 },
      media: { listenIp: '0.0.0.0', announcedIp: '203.0.113.7', minPort: 41000, maxPort: 41999, workers: 3 },
      redisUrl: 'redis://127.0.0.1:6379',
      socketPlaceLeaseMs: 2000,
    });
  });

  it.each([
    ['PORT', 'abc', /PORT="abc": expected an integer from 0 to 65535/],
    ['PORT', '70000', /PORT="70000"/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL="mysql:\/\/x": expected a URL starting with postgres:/],
    ['MEDIA_LISTEN_IP', 'localhost', /MEDIA_LISTEN_IP="localhost": expected an IPv4 or IPv6 address/],
    ['MEDIA_WORKERS', '0', /MEDIA_WORKERS="0"/],
    ['CALL_MAX_DURATION_MS', '-5', /CALL_MAX_DURATION_MS="-5"/],
    ['REDIS_URL', 'http://x', /REDIS_URL="http:\/\/x": expected a URL starting with redis:/],
    ['SOCKET_PLACE_LEASE_MS', '100', /SOCKET_PLACE_LEASE_MS="100": expected an integer from 300 to 600000/],
    ['JWT_SECRET', 'short', /JWT_SECRET=\(set, 5 characters, not shown\): expected at least 16 characters/],
  ])('refuses %s=%s naming the variable and what it accepts', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('checks variables against each other', () => {
    expect(() => loadConfig({ MEDIA_MIN_PORT: '45000', MEDIA_MAX_PORT: '44000' })).toThrow(/MEDIA_MAX_PORT/);
    expect(() => loadConfig({ CALL_MAX_DURATION_MS: '1000', CALL_WARNING_BEFORE_MS: '2000' })).toThrow(/CALL_WARNING_BEFORE_MS/);
  });

  it('shortens the default warning lead time with a short cap, and keeps 60 s under a long one', () => {
    expect(loadConfig({ CALL_MAX_DURATION_MS: '12000' }).calls.warningBeforeMs).toBe(6000);
    expect(loadConfig({ CALL_MAX_DURATION_MS: '600000' }).calls.warningBeforeMs).toBe(60_000);
    expect(loadConfig({ CALL_MAX_DURATION_MS: '12000', CALL_WARNING_BEFORE_MS: '0' }).calls.warningBeforeMs).toBe(0);
  });

  it('names the effective value of a variable that was not set', () => {
    expect(() => loadConfig({ MEDIA_MIN_PORT: '50000' })).toThrow(
      'MEDIA_MAX_PORT=(unset: default 49999): expected a port not below MEDIA_MIN_PORT (50000)',
    );
    expect(() => loadConfig({ CALL_MAX_DURATION_MS: '1000', CALL_WARNING_BEFORE_MS: '1000' })).toThrow(
      'CALL_WARNING_BEFORE_MS="1000": expected a lead time shorter than CALL_MAX_DURATION_MS (1000)',
    );
  });

  it('never prints secrets or the passwords inside URLs', () => {
    const problems = () =>
      loadConfig({
        ADMIN_TOKEN: 'short',
        JWT_SECRET: 'tiny-secret',
        DATABASE_URL: 'mysql://app:hunter2-db@db/x',
        REDIS_URL: 'http://:hunter3-redis@cache:6379',
      });
    expect(problems).toThrow(ConfigError);
    try {
      problems();
    } catch (err) {
      const message = (err as ConfigError).message;
      for (const secret of ['short', 'tiny-secret', 'hunter2-db', 'hunter3-redis']) expect(message).not.toContain(secret);
      expect(message).toContain('DATABASE_URL="mysql://app:***@db/x"');
      expect(message).toContain('ADMIN_TOKEN=(set, 5 characters, not shown)');
    }
  });

  it('reports every bad variable at once', () => {
    try {
      loadConfig({ PORT: 'x', MEDIA_WORKERS: 'y' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['MEDIA_WORKERS', 'PORT']);
    }
  });

  it('never prints a secret or a URL password in its error', () => {
    const env = {
      NODE_ENV: 'production',
      ADMIN_TOKEN: 'admin-secret-value',
      JWT_SECRET: 'jwt-secret-value-17',
      AUTH_API_KEY: 'api-key-value',
      DATABASE_URL: 'mysql://app:db-password-value@db/x',
      REDIS_URL: 'http://:redis-password-value@cache',
    };
    let message = '';
    try {
      loadConfig(env);
    } catch (err) {
      message = (err as ConfigError).message;
    }
    for (const variable of ['ADMIN_TOKEN', 'JWT_SECRET', 'AUTH_API_KEY', 'DATABASE_URL', 'REDIS_URL']) {
      expect(message).toContain(variable);
    }
    for (const secret of ['admin-secret-value', 'jwt-secret-value', 'api-key-value', 'db-password-value', 'redis-password-value']) {
      expect(message).not.toContain(secret);
    }
    expect(message).toContain('mysql://app:***@db/x');
  });

  it('refuses secrets shorter than 32 characters in production, and turns dev-login and plain RTP off there', () => {
    const long = 'x'.repeat(32);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'y'.repeat(31) })).toThrow(/JWT_SECRET=.*at least 32/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_API_KEY: 'short-key' })).toThrow(/AUTH_API_KEY/);
    expect(() => loadConfig({ NODE_ENV: 'production', ADMIN_TOKEN: 'y'.repeat(20) })).toThrow(/ADMIN_TOKEN/);
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: long, AUTH_API_KEY: long, ADMIN_TOKEN: long });
    expect(c.auth).toMatchObject({ devLogin: false, apiKey: long, tokenTtlS: 3600 });
    expect(c.media.plainRtp).toBe(false);
    expect(loadConfig({ JWT_SECRET: 'y'.repeat(20) }).auth.devLogin).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_DEV_LOGIN: 'true' }).auth.devLogin).toBe(true);
    expect(loadConfig({}).maxSocketsPerUser).toBe(10);
  });

  it('listens on loopback by default, and turns dev-login and plain RTP off when it listens beyond it unless set', () => {
    const local = loadConfig({});
    expect(local.host).toBe('127.0.0.1');
    expect(local.auth.devLogin).toBe(true);
    expect(local.media.plainRtp).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      const open = loadConfig({ HOST: host });
      expect(open.host).toBe(host);
      expect(open.auth.devLogin).toBe(false);
      expect(open.media.plainRtp).toBe(false);
    }
    expect(loadConfig({ HOST: '::1' }).auth.devLogin).toBe(true);
    const asked = loadConfig({ HOST: '0.0.0.0', AUTH_DEV_LOGIN: 'true', MEDIA_PLAIN_RTP: '1' });
    expect(asked.auth.devLogin).toBe(true);
    expect(asked.media.plainRtp).toBe(true);
    expect(() => loadConfig({ HOST: 'example.com' })).toThrow(/HOST="example.com": expected an IPv4 or IPv6 address/);
  });

  it('refuses REDIS_URL without JWT_SECRET: every process must sign with the same secret', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(
      /JWT_SECRET=\(unset\): expected a secret shared by every process when REDIS_URL is set/,
    );
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', JWT_SECRET: 'z'.repeat(16) }).redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('reads the CORS allow-list (none by default: same origin only) and refuses what is no origin', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    for (const bad of ['*', 'app.example.com', 'https://app.example.com/', 'https://a.example/path', 'ftp://x.example']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS/);
    }
  });

  it('reads METRICS_TOKEN, the database timeouts and the HTTP limits, with their defaults', () => {
    const d = loadConfig({});
    expect(d.metricsToken).toBeUndefined();
    expect(d.databaseStatementTimeoutMs).toBe(15_000);
    expect(d.databaseAcquireTimeoutMs).toBe(10_000);
    expect(d.httpRate).toEqual({
      perUser: { perSecond: 20, burst: 100 },
      perAddress: { perSecond: 50, burst: 200 },
      exemptCidrs: ['127.0.0.0/8', '::1/128'],
    });
    const c = loadConfig({
      METRICS_TOKEN: 'metrics-token-1',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
      DATABASE_ACQUIRE_TIMEOUT_MS: '500',
      HTTP_USER_RATE_PER_SEC: '2',
      HTTP_USER_RATE_BURST: '3',
      HTTP_ADDRESS_RATE_PER_SEC: '4',
      HTTP_ADDRESS_RATE_BURST: '5',
      HTTP_RATE_EXEMPT_CIDRS: 'none',
    });
    expect(c).toMatchObject({
      metricsToken: 'metrics-token-1',
      databaseStatementTimeoutMs: 0,
      databaseAcquireTimeoutMs: 500,
      httpRate: { perUser: { perSecond: 2, burst: 3 }, perAddress: { perSecond: 4, burst: 5 }, exemptCidrs: [] },
    });
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN=\(set, 5 characters, not shown\)/);
    expect(() => loadConfig({ HTTP_RATE_EXEMPT_CIDRS: 'everyone' })).toThrow(/HTTP_RATE_EXEMPT_CIDRS/);
  });

  it('reads named admin tokens; ADMIN_TOKEN stays, named "admin"', () => {
    const c = loadConfig({ ADMIN_TOKEN: 'the-admin-token', ADMIN_TOKENS: 'alice:alice-token-1,ops.bot:bot-token-22' });
    expect(c.adminTokens).toEqual([
      { name: 'admin', token: 'the-admin-token' },
      { name: 'alice', token: 'alice-token-1' },
      { name: 'ops.bot', token: 'bot-token-22' },
    ]);
    expect(loadConfig({}).adminTokens).toEqual([]);
    for (const bad of ['alice', 'alice:short', ':token-token', 'Alice:token-token', 'a:token-token,a:other-token']) {
      expect(() => loadConfig({ ADMIN_TOKENS: bad })).toThrow(/ADMIN_TOKENS/);
    }
    expect(() => loadConfig({ ADMIN_TOKEN: 'the-admin-token', ADMIN_TOKENS: 'admin:another-token' })).toThrow(/ADMIN_TOKENS/);
    expect(() => loadConfig({ NODE_ENV: 'production', ADMIN_TOKENS: 'alice:alice-token-1' })).toThrow(/ADMIN_TOKENS.*at least 32/);
    // The tokens are never printed.
    try {
      loadConfig({ ADMIN_TOKENS: 'alice:secret-value-1,bad' });
    } catch (err) {
      expect(String(err)).not.toContain('secret-value-1');
    }
  });
});
