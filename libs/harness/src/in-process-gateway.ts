import crypto from 'node:crypto';
import { AppConfig, Clock, loadConfig } from '@app/config';
import { createRootLogger } from '@app/observability';
import { RunningGateway, startGateway } from '@app/gateway';
import { createScratchDatabase, ScratchDatabase } from './scratch-database';

/** The admin API's token in harnessEnv (the tests' admin calls send it). */
export const HARNESS_ADMIN_TOKEN = 'test-admin-token';

export interface InProcessGateway extends RunningGateway {
  db: ScratchDatabase;
  config: AppConfig;
  /** A Nest provider of the running gateway (for assertions on internals such as media counts). */
  get<T>(token: abstract new (...args: never[]) => T): T;
}

export interface InProcessGatewayOptions {
  env?: Record<string, string>;
  /** Share a database with another gateway (several processes of one service). */
  db?: ScratchDatabase;
  clock?: Clock;
}

/** Harness defaults: ports chosen by the OS, one media worker, quiet logs. */
export function harnessEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PORT: '0',
    MEDIA_WORKERS: '1',
    // Several gateways run at once: each worker's WebRTC port is picked from its range.
    MEDIA_WEBRTC_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: 'test-secret-0123456789abcdef',
    ADMIN_TOKEN: HARNESS_ADMIN_TOKEN,
    ...env,
  };
}

/** A real gateway (real PostgreSQL, real mediasoup) in this process, on a scratch database of its own. */
export async function startInProcessGateway(options: InProcessGatewayOptions = {}): Promise<InProcessGateway> {
  const db = options.db ?? (await createScratchDatabase());
  const ownsDb = options.db === undefined;
  const config = loadConfig(harnessEnv(db.url, options.env));
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

/** A user handle no other run has taken (at most 32 characters). */
export function uniqueHandle(prefix = 'u'): string {
  return `${prefix}_${crypto.randomBytes(5).toString('hex')}`.slice(0, 32);
}
