import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { FlagsModule } from '@app/flags';
import { MediaModule } from '@app/media';
import { MessagingModule } from '@app/messaging';
import { RealtimeModule } from '@app/realtime';
import { SchedulerModule } from '@app/scheduler';
import { CallRepository } from './call.repository';
import { CallSupervisor } from './call-supervisor';
import { CallTimers } from './call-timers';
import { CallsService } from './calls.service';

@Module({
  imports: [AuthModule, SchedulerModule, MessagingModule, FlagsModule, MediaModule, RealtimeModule],
  providers: [CallRepository, CallTimers, CallsService, CallSupervisor],
  exports: [CallsService],
})
export class CallsModule {}
