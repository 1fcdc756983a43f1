import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, serviceKeyOf } from '@app/config';
import { FlagsModule } from '@app/flags';
import { MediaRoutingModule } from '@app/media-routing';
import { MessagingModule } from '@app/messaging';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { RedisConnections } from '@app/redis';
import { RealtimeModule } from '@app/realtime';
import { RelationshipsModule } from '@app/relationships';
import { SchedulerModule } from '@app/scheduler';
import { ActiveCallCache } from './active-call-cache';
import { ANNOUNCED_PRODUCERS, AnnouncedProducerStore, InMemoryAnnouncedProducers, RedisAnnouncedProducers } from './announced-producers';
import { CallRepository } from './call.repository';
import { CallSupervisor } from './call-supervisor';
import { CallTimers } from './call-timers';
import { CallsService } from './calls.service';
import { CallMediaService } from './call-media.service';
import { CallMediaRecovery } from './call-media-recovery';
import { CallMetrics } from './call-metrics';
import { CallMediaPushes } from './call-media-pushes';

/** Kept this long after a call's last producer beyond the call cap (a call ends by then; the key goes with it). */
const ANNOUNCED_PRODUCERS_TTL_MARGIN_MS = 30 * 60_000;

@Module({
  imports: [SchedulerModule, MessagingModule, RelationshipsModule, FlagsModule, MediaRoutingModule, RealtimeModule],
  providers: [
    CallRepository,
    ActiveCallCache,
    CallTimers,
    CallsService,
    CallSupervisor,
    CallMediaService,
    CallMediaRecovery,
    CallMetrics,
    CallMediaPushes,
    {
      // Shared by every process of the service when REDIS_URL is set: a participant may produce through any of them.
      provide: ANNOUNCED_PRODUCERS,
      inject: [APP_CONFIG, ROOT_LOGGER, RedisConnections],
      useFactory: async (config: AppConfig, logger: Logger, redis: RedisConnections): Promise<AnnouncedProducerStore> => {
        if (!redis.enabled) return new InMemoryAnnouncedProducers();
        return RedisAnnouncedProducers.connect(redis, serviceKeyOf(config), logger.child({ component: 'announced-producers' }), {
          ttlMs: config.calls.maxDurationMs + ANNOUNCED_PRODUCERS_TTL_MARGIN_MS,
          commandTimeoutMs: Math.min(1_000, config.media.requestTimeoutMs),
        });
      },
    },
    {
      // Stops the store; its connection closes with the process's others (RedisConnections).
      provide: 'ANNOUNCED_PRODUCERS_CLOSER',
      inject: [ANNOUNCED_PRODUCERS],
      useFactory: (store: AnnouncedProducerStore) => ({ onApplicationShutdown: () => store.close() }),
    },
  ],
  exports: [CallsService, CallMediaService],
})
export class CallsModule {}
