import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock, serviceKeyOf } from '@app/config';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { RedisConnections, RedisModule } from '@app/redis';
import { busDropCounter, InProcessMediaBus, MediaBus, RedisMediaBus } from './media-bus';
import { MediaCluster } from './media-cluster';
import { MEDIA_BUS } from './media-routing.tokens';

/**
 * How this process reaches media nodes (its own included): the media bus
 * and the cluster view with each node's typed room API. Every process has
 * it; gateways use it to place rooms and route participants' requests. It
 * names no mediasoup type: that is libs/media's, on the nodes only.
 */
@Module({
  // The process's Redis connections (global; every role has a media bus, so it is brought in here).
  imports: [RedisModule],
  providers: [
    {
      provide: MEDIA_BUS,
      inject: [APP_CONFIG, ROOT_LOGGER, MetricsService, RedisConnections, Clock],
      useFactory: async (
        config: AppConfig,
        logger: Logger,
        metrics: MetricsService,
        redis: RedisConnections,
        clock: Clock,
      ): Promise<MediaBus> => {
        if (!redis.enabled) return new InProcessMediaBus(clock, busDropCounter(metrics), logger.child({ component: 'media-bus' }));
        // Processes sharing DATABASE_URL and REDIS_URL are one service; the database names it.
        return RedisMediaBus.connect(redis, serviceKeyOf(config), logger.child({ component: 'media-bus' }), metrics);
      },
    },
    {
      // Stops the bus after the node and the cluster stopped using it (its connections close with the others).
      provide: 'MEDIA_BUS_CLOSER',
      inject: [MEDIA_BUS],
      useFactory: (bus: MediaBus) => ({ onApplicationShutdown: () => bus.close() }),
    },
    MediaCluster,
  ],
  exports: [MEDIA_BUS, MediaCluster],
})
export class MediaRoutingModule {}

/** The name the calls module imports today; the same module. */
export { MediaRoutingModule as MediaClusterModule };
