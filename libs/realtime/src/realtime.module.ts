import { Module } from '@nestjs/common';
import { RealtimeService } from './realtime.service';

/** Fan-out to users' sockets; one instance per process, attached to the socket.io server by the gateway. */
@Module({ providers: [RealtimeService], exports: [RealtimeService] })
export class RealtimeModule {}
