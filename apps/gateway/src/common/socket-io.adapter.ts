import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { lastValueFrom, Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import type { Logger } from '@app/observability';
import { InFlightWork } from './in-flight-work';

/** Largest socket.io frame accepted; a bigger one closes that socket. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * socket.io on the HTTP server, with the Redis adapter when REDIS_URL is
 * set so rooms (one per user) span every gateway process.
 */
export class GatewayIoAdapter extends IoAdapter {
  private redisClients: ReturnType<typeof createClient>[] = [];
  private redisAdapter?: ReturnType<typeof createAdapter>;

  constructor(
    app: INestApplicationContext,
    private readonly redisUrl: string | undefined,
    private readonly logger: Logger,
    private readonly inFlight = new InFlightWork(),
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
      cors: { origin: true, credentials: true },
    } as ServerOptions);
    if (this.redisAdapter) server.adapter(this.redisAdapter);
    return server;
  }

  /**
   * One plain listener per event and socket. Nest's own version builds an
   * rxjs pipeline per handler and socket, which held most of an idle
   * socket's memory; handlers and acks behave the same.
   */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(message as string, (...args: unknown[]) => {
        // A stopping gateway takes no new work; the client's request fails with the connection and is resent elsewhere.
        if (this.inFlight.draining) return;
        const { data, ack } = this.mapPayload(args.length === 1 ? args[0] : args);
        const handled = lastValueFrom(transform(callback(data, ack)), { defaultValue: undefined }).then(
          (response) => {
            if (response === undefined || response === null) return;
            const { event, data: eventData } = response as { event?: string; data?: unknown };
            if (event) socket.emit(event, eventData);
            else if (!isAckHandledManually && typeof ack === 'function') ack(response);
          },
          (err: unknown) => this.logger.error({ err, event: message }, 'socket handler pipeline failed'),
        );
        void this.inFlight.track(handled);
      });
    }
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    await Promise.all(this.redisClients.map((c) => c.quit().catch(() => undefined)));
  }
}
