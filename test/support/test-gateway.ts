import crypto from 'node:crypto';
import { AppConfig, Clock, loadConfig } from '@app/config';
import { createRootLogger } from '@app/observability';
import { RunningGateway, startGateway } from '@app/gateway';
import { createTestDatabase, TestDatabase } from './test-database';

export const TEST_ADMIN_TOKEN = 'test-admin-token';

export interface TestGateway extends RunningGateway {
  db: TestDatabase;
  config: AppConfig;
  /** A Nest provider of the running gateway (for assertions on internals such as media counts). */
  get<T>(token: abstract new (...args: never[]) => T): T;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  /** Share a database with another gateway (multi-process tests). */
  db?: TestDatabase;
  clock?: Clock;
}

/** Test defaults: ports chosen by the OS, one media worker, quiet logs. */
export function testEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PORT: '0',
    MEDIA_WORKERS: '1',
    // Several gateways run at once in tests: each worker's WebRTC port is picked from its range.
    MEDIA_WEBRTC_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: 'test-secret-0123456789abcdef',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    ...env,
  };
}

/** A real gateway (real PostgreSQL, real mediasoup) in this process, on its own database. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const db = options.db ?? (await createTestDatabase());
  const ownsDb = options.db === undefined;
  const config = loadConfig(testEnv(db.url, options.env));
  const logger = createRootLogger(config.logLevel);
  const running = await startGateway({ config, logger, clock: options.clock });
  return {
    ...running,
    db,
    config,
    get: (token) => running.app.get(token as never, { strict: false }),
    close: async () => {
      await running.close();
      if (ownsDb) await db.drop();
    },
  };
}

export function uniqueHandle(prefix = 'u'): string {
  return `${prefix}_${crypto.randomBytes(5).toString('hex')}`.slice(0, 32);
}
