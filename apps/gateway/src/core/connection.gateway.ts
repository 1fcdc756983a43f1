import { Inject, OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { AuthService, AuthUser, bearerToken } from '@app/auth';
import { errorAck } from '@app/contracts';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RealtimeService, userRoom } from '@app/realtime';
import { SocketGateway } from '../common/socket-gateway.decorator';
import { SocketAccessLog } from '../common/ws-ack.interceptor';

/**
 * Socket life: the handshake is authenticated before a connection exists,
 * each socket joins its user's room, and an event no handler knows is
 * answered instead of left silent.
 */
@SocketGateway()
export class ConnectionGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleDestroy {
  private readonly localSockets = new Map<string, number>();
  private closing = false;
  private readonly logger: Logger;
  private readonly connected;
  private readonly access: SocketAccessLog;

  constructor(
    private readonly auth: AuthService,
    private readonly realtime: RealtimeService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
  ) {
    this.logger = rootLogger.child({ component: 'socket' });
    this.connected = metrics.gauge('socket_connections', 'connected sockets on this process');
    this.access = new SocketAccessLog(rootLogger);
  }

  afterInit(server: Server): void {
    this.realtime.attach(server);
    server.use((socket, next) => {
      const token = socket.handshake.auth?.token ?? bearerToken(socket.handshake.headers.authorization);
      this.auth.authenticate(typeof token === 'string' ? token : undefined).then(
        (user) => {
          socket.data.user = user;
          next();
        },
        () => next(new Error('UNAUTHENTICATED')),
      );
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) {
      socket.disconnect(true);
      return;
    }
    socket.join(userRoom(user.id));
    socket.onAny((event: string, ...args: unknown[]) => {
      if (socket.listenerCount(event) > 0) return;
      const ack = args[args.length - 1];
      this.access.write({ event, socket, outcome: 'VALIDATION_FAILED' });
      if (typeof ack === 'function') {
        ack(errorAck({ code: 'VALIDATION_FAILED', message: `unknown event "${event}"`, details: { event } }));
      }
    });
    this.connected.inc();
    const count = (this.localSockets.get(user.id) ?? 0) + 1;
    this.localSockets.set(user.id, count);
    if (count === 1) await this.presence(user.id, true);
  }

  async handleDisconnect(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) return;
    this.connected.dec();
    const count = (this.localSockets.get(user.id) ?? 1) - 1;
    if (count > 0) {
      this.localSockets.set(user.id, count);
      return;
    }
    this.localSockets.delete(user.id);
    await this.presence(user.id, false);
  }

  /**
   * The server is stopping: its sockets close next, but their users did not
   * leave (a restart re-arms every live call's grace), and the database is
   * going away, so presence changes are no longer acted on.
   */
  onModuleDestroy(): void {
    this.closing = true;
  }

  private async presence(userId: string, online: boolean): Promise<void> {
    if (this.closing) return;
    try {
      await this.realtime.notifyPresence(userId, online);
    } catch (err) {
      this.logger.error({ err, userId, online }, 'presence listener failed');
    }
  }
}
