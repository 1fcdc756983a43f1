import { Inject, OnModuleInit } from '@nestjs/common';
import { OnGatewayConnection, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import type { AuthUser } from '@app/auth';
import type { EvaluatedFlags } from '@app/contracts';
import { FlagsService } from '@app/flags';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { userRoom } from '@app/realtime';
import { SocketGateway } from '../common/socket-gateway.decorator';

/**
 * `flags:changed` with each user's own evaluation: to a socket as it
 * connects, and to every socket of this process whenever a flag changes.
 * Every gateway process hears every change (FlagsService.onChange), so each
 * pushes only to its own sockets: no duplicates through a shared adapter.
 */
@SocketGateway()
export class FlagsPushGateway implements OnModuleInit, OnGatewayConnection {
  @WebSocketServer() private readonly server!: Server;
  private readonly logger: Logger;
  private pushing = false;
  private pushAgain = false;

  constructor(
    private readonly flags: FlagsService,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'flags-push' });
  }

  onModuleInit(): void {
    this.flags.onChange(() => this.pushToLocalSockets());
  }

  async handleConnection(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) return;
    try {
      socket.emit('flags:changed', { flags: await this.evaluate(user.id) });
    } catch (err) {
      this.logger.error({ err, userId: user.id }, 'could not send flags to a new socket');
    }
  }

  // Changes arriving during a push are folded into one more push.
  private async pushToLocalSockets(): Promise<void> {
    if (this.pushing) {
      this.pushAgain = true;
      return;
    }
    this.pushing = true;
    try {
      do {
        this.pushAgain = false;
        await this.pushOnce();
      } while (this.pushAgain);
    } finally {
      this.pushing = false;
    }
  }

  private async pushOnce(): Promise<void> {
    if (!this.server) return;
    const sockets = await this.server.local.fetchSockets();
    const userIds = new Set<string>();
    for (const s of sockets) {
      const id = (s.data as { user?: AuthUser }).user?.id;
      if (id) userIds.add(id);
    }
    for (const userId of userIds) {
      this.server.local.to(userRoom(userId)).emit('flags:changed', { flags: await this.evaluate(userId) });
    }
  }

  private async evaluate(userId: string): Promise<EvaluatedFlags> {
    return (await this.flags.evaluateAll(userId, 'flags:changed')) as EvaluatedFlags;
  }
}
