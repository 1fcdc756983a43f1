import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { APP_CONFIG, AppConfig } from '@app/config';
import { Logger, MetricsService } from '@app/observability';
import { RateLimiterService } from '@app/rate-limits';
import { InFlightWork } from './in-flight-work';
import { BoundSocketHandler, SocketEventPipeline } from './socket-event-pipeline';

/** Largest socket.io frame accepted; a bigger one closes that socket. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * socket.io on the HTTP server, with the Redis adapter when REDIS_URL is
 * set so rooms (one per user) span every gateway process.
 */
export class GatewayIoAdapter extends IoAdapter {
  private redisClients: ReturnType<typeof createClient>[] = [];
  private redisAdapter?: ReturnType<typeof createAdapter>;
  private pipeline?: SocketEventPipeline;

  constructor(
    private readonly app: INestApplicationContext,
    private readonly redisUrl: string | undefined,
    private readonly logger: Logger,
    private readonly inFlight = new InFlightWork(),
    /** Browser origins allowed to open a socket by long-polling; false: same origin only. */
    private readonly corsOrigin: string[] | false = false,
  ) {
    super(app);
  }

  async connectRedis(): Promise<void> {
    if (!this.redisUrl) return;
    const pub = createClient({ url: this.redisUrl });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'redis error'));
    await Promise.all([pub.connect(), sub.connect()]);
    this.redisClients = [pub, sub];
    this.redisAdapter = createAdapter(pub, sub);
    this.logger.info('socket.io fan-out through Redis');
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server: Server = super.createIOServer(port, {
      ...options,
      maxHttpBufferSize: MAX_FRAME_BYTES,
      cors: { origin: this.corsOrigin, credentials: true },
    } as ServerOptions);
    if (this.redisAdapter) server.adapter(this.redisAdapter);
    return server;
  }

  /**
   * One plain listener per event and socket, straight into the event
   * pipeline. Nest's own version builds an rxjs pipeline per handler and
   * socket, which held most of an idle socket's memory.
   */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    const pipeline = (this.pipeline ??= this.createPipeline());
    for (const { message, callback } of handlers) {
      const event = message as string;
      const handler = callback as BoundSocketHandler;
      socket.on(event, (...args: unknown[]) => {
        // A stopping gateway takes no new work; the client's request fails with the connection and is resent elsewhere.
        if (this.inFlight.draining) return;
        const { data, ack } = this.mapPayload(args.length === 1 ? args[0] : args);
        const handled = pipeline.handle(socket, event, data, ack, handler).catch((err: unknown) =>
          this.logger.error({ err, event }, 'socket handler pipeline failed'),
        );
        void this.inFlight.track(handled);
      });
    }
  }

  /** Made once the application's providers exist (handlers are bound after init). */
  private createPipeline(): SocketEventPipeline {
    return new SocketEventPipeline({
      // Absent only on a process without socket gateways.
      limits: this.optional(RateLimiterService),
      config: this.app.get<AppConfig>(APP_CONFIG, { strict: false }),
      metrics: this.app.get(MetricsService, { strict: false }),
      rootLogger: this.logger,
    });
  }

  private optional<T>(token: new (...args: never[]) => T): T | undefined {
    try {
      return this.app.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    await Promise.all(this.redisClients.map((c) => c.quit().catch(() => undefined)));
  }
}
