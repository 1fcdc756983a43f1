import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { FlagsModule } from '@app/flags';
import { MediaClusterModule } from '@app/media';
import { MessagingModule } from '@app/messaging';
import { RealtimeModule } from '@app/realtime';
import { SchedulerModule } from '@app/scheduler';
import { ActiveCallCache } from './active-call-cache';
import { CallRepository } from './call.repository';
import { CallSupervisor } from './call-supervisor';
import { CallTimers } from './call-timers';
import { CallsService } from './calls.service';
import { CallMediaService } from './call-media.service';
import { CallMediaRecovery } from './call-media-recovery';

@Module({
  imports: [AuthModule, SchedulerModule, MessagingModule, FlagsModule, MediaClusterModule, RealtimeModule],
  providers: [CallRepository, ActiveCallCache, CallTimers, CallsService, CallSupervisor, CallMediaService, CallMediaRecovery],
  exports: [CallsService, CallMediaService],
})
export class CallsModule {}
