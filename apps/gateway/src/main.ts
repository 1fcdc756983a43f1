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
  // enableShutdownHooks closes the app on SIGTERM/SIGINT: sockets, workers, database.
  gateway.app.getHttpServer().once('close', () => logger.info('gateway stopped'));
}

main().catch((err) => {
  process.stderr.write(`gateway failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
