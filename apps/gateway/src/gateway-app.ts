import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig, Clock, SystemClock } from '@app/config';
import { DrainState, Logger, NestPinoLogger, REQUEST_ID_HEADER, createRootLogger } from '@app/observability';
import { MediaNodeHost } from '@app/media';
import { AppModule } from './app.module';
import { HttpErrorFilter } from './common/http-error.filter';
import { coalesceSocketWritesPerTurn } from './common/coalesced-socket-writes';
import { GatewayIoAdapter, patchNestMessageBinding } from './common/socket-io.adapter';
import { InFlightWork } from './common/in-flight-work';
import { DurableScheduler } from '@app/scheduler';
import { AuthService } from '@app/auth';
import { RateLimiterService } from '@app/rate-limits';
import { RedisConnections } from '@app/redis';
import { httpRateLimit } from './common/http-rate-limit.middleware';

/** How long a stopping gateway waits for work in flight before closing anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface GatewayOptions {
  config: AppConfig;
  clock?: Clock;
  logger?: Logger;
}

export interface RunningGateway {
  app: NestExpressApplication;
  url: string;
  port: number;
  logger: Logger;
  /**
   * Readiness off and no new calls here; everything else keeps serving until
   * close(). A media node also hands its rooms to other nodes (the calls move,
   * with media:restart) and resolves once it holds none.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Builds and starts the gateway: HTTP and socket.io on one port. Used by main and the tests. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config } = options;
  const logger = options.logger ?? createRootLogger(config.logLevel);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, options.clock ?? new SystemClock(), logger), {
    logger: new NestPinoLogger(logger.child({ component: 'nest' })),
    bodyParser: false,
    // Errors from the application object are thrown to the caller, not turned
    // into process.exit(1): looking up a provider a role does not have (the
    // scheduler on a media node, at stop) must be catchable.
    abortOnError: false,
  });
  app.useGlobalFilters(new HttpErrorFilter(logger));
  app.disable('x-powered-by');
  // Only the origins of CORS_ORIGINS may call the API from a browser page; none by default (same origin only).
  // Browsers may read the request id to quote it in a bug report.
  app.enableCors({ origin: corsOrigin(config), credentials: true, exposedHeaders: [REQUEST_ID_HEADER] });
  // After CORS (a browser may read the refusal), before the body is read and any route: a refused request costs next to nothing.
  if (config.role !== 'media') {
    app.use(
      httpRateLimit({
        limits: app.get(RateLimiterService, { strict: false }),
        auth: app.get(AuthService, { strict: false }),
        config,
        logger: logger.child({ component: 'rate-limits' }),
      }),
    );
  }
  app.useBodyParser('json', { limit: '256kb' });
  const inFlight = new InFlightWork();
  inFlight.trackHttp(app.getHttpServer());
  // The process's Redis connections; absent on a media node (it opens its own bus only).
  const redis = optionalRedis(app);
  patchNestMessageBinding();
  coalesceSocketWritesPerTurn();
  const io = new GatewayIoAdapter(app, redis, logger, inFlight, corsOrigin(config));
  // A media node has no sockets: it neither joins the socket.io fan-out nor counts as a gateway in it.
  if (config.role !== 'media') await io.connectRedis();
  app.useWebSocketAdapter(io);
  answerMalformedRequests(app.getHttpServer());
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${reachableHost(config.host)}:${port}`;
  // redisConnections: the prefix of this process's connection names in Redis (CLIENT LIST).
  logger.info(
    { url, database: config.databaseUrl ? 'external' : 'embedded', redisConnections: redis?.enabled ? redis.tag : undefined },
    'gateway listening',
  );
  let closing: Promise<void> | undefined;
  const close = async () => {
    // Stop taking work, finish what was taken (handlers, then timer jobs), and only then close the pools.
    const left = await inFlight.drain(app.getHttpServer(), DRAIN_TIMEOUT_MS);
    if (left > 0) logger.warn({ left }, 'stopping with work still in flight');
    // A media node runs no timers: it has no scheduler to wait for.
    if (config.role !== 'media') await stopTimers(app).catch((err: unknown) => logger.error({ err }, 'stopping the timers failed'));
    await app.close();
    // Last: the sockets are closed and every place given back, so nothing uses Redis any more.
    await redis?.closeAll();
  };
  const drain = async () => {
    app.get(DrainState).start(app.get(Clock).now());
    if (config.role !== 'gateway') await app.get(MediaNodeHost, { strict: false }).drain();
  };
  return { app, url, port, logger, drain, close: () => (closing ??= close()) };
}

/** The CORS allow-list as the cors package takes it: false sends no CORS headers at all (same origin only). */
function corsOrigin(config: AppConfig): string[] | false {
  return config.corsOrigins.length > 0 ? config.corsOrigins : false;
}

/** Where this process itself (and a test) reaches the port: a wildcard listener is reached on loopback. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function optionalRedis(app: NestExpressApplication): RedisConnections | undefined {
  try {
    return app.get(RedisConnections, { strict: false });
  } catch {
    return undefined;
  }
}

/** Lets timer jobs already running finish before the pools they use close (a no-op where there is no scheduler). */
async function stopTimers(app: NestExpressApplication): Promise<void> {
  let scheduler: DurableScheduler;
  try {
    scheduler = app.get(DurableScheduler, { strict: false });
  } catch {
    return;
  }
  await scheduler.onModuleDestroy();
}

/**
 * Requests Node's HTTP parser refuses before any route runs (headers or URL
 * too large, broken syntax) still get the protocol's error envelope.
 */
function answerMalformedRequests(server: import('node:http').Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const body = JSON.stringify({
      error: { code: 'VALIDATION_FAILED', message: tooLarge ? 'request headers or URL too large' : 'malformed HTTP request' },
    });
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
