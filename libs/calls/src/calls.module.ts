import { Module } from '@nestjs/common';
import { SchedulerModule } from '@app/scheduler';
import { CallRepository } from './call.repository';
import { CallTimers } from './call-timers';
import { CallsService } from './calls.service';

@Module({
  imports: [SchedulerModule],
  providers: [CallRepository, CallTimers, CallsService],
  exports: [CallsService],
})
export class CallsModule {}
