import { ConfigError, loadConfig } from '@app/config';
import { createRootLogger } from '@app/observability';
import { startGateway } from './gateway-app';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createRootLogger(config.logLevel);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));
  const gateway = await startGateway({ config, logger });

  // Graceful stop: sockets closed, calls' media and workers closed, the
  // database pool closed and an embedded server stopped, then exit 0.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping gateway');
    const forced = setTimeout(() => {
      logger.error('graceful stop took too long; exiting');
      process.exit(1);
    }, 15_000);
    forced.unref();
    gateway.close().then(
      () => {
        logger.info('gateway stopped');
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`gateway failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
