import { Module } from '@nestjs/common';
import { DurableScheduler } from './durable-scheduler';

@Module({ providers: [DurableScheduler], exports: [DurableScheduler] })
export class SchedulerModule {}
