import v8 from 'node:v8';
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
  // V8 lets the old generation grow to up to 4× the live heap when its limit is
  // 2 GB or more (by default the limit follows the machine's memory), so RSS
  // then drifts far above what the gateway holds; `npm start` and the image
  // set --max-old-space-size=1024 (at most about 1.6×).
  const heapLimitMb = Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20);
  if (heapLimitMb > 2048)
    logger.warn({ heapLimitMb }, 'no heap limit set: start node with --max-old-space-size=1024 to keep memory near the live heap');
  else logger.info({ heapLimitMb }, 'heap limit');

  // Graceful stop. SIGTERM drains first: readiness off and no new calls
  // placed here for SHUTDOWN_DRAIN_MS, so a load balancer moves new clients
  // elsewhere; then sockets closed, calls' media and workers closed, the
  // database pool closed and an embedded server stopped, then exit 0.
  // SIGINT (Ctrl-C) stops at once.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const drainMs = signal === 'SIGTERM' ? config.shutdownDrainMs : 0;
    logger.info({ signal, drainMs }, 'draining: not ready, no new calls');
    const forced = setTimeout(() => {
      logger.error('graceful stop took too long; exiting');
      process.exit(1);
    }, drainMs + 30_000);
    forced.unref();
    // A media node first hands its rooms over (SIGTERM only; SIGINT stops at once).
    const drained = signal === 'SIGTERM' ? gateway.drain() : Promise.resolve();
    const draining = Promise.all([
      drained.catch((err) => logger.error({ err }, 'drain failed')),
      new Promise((r) => setTimeout(r, drainMs)),
    ]);
    void draining.then(() => {
      logger.info({ signal }, 'stopping gateway');
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
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`gateway failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
