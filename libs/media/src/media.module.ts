import { DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, serviceKeyOf } from '@app/config';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { InProcessMediaBus, MediaBus, RedisMediaBus } from './media-bus';
import { MediaCluster } from './media-cluster';
import { MediaNodeHost } from './media-node.host';
import { MediaService } from './media.service';
import { MEDIA_BUS } from './media.tokens';
import { WorkerPool } from './worker-pool';

/**
 * How this process reaches media nodes (its own included): the media bus
 * and the cluster view. Every process has it; gateways use it to place
 * rooms and route participants' requests.
 */
@Module({
  providers: [
    {
      provide: MEDIA_BUS,
      inject: [APP_CONFIG, ROOT_LOGGER],
      useFactory: async (config: AppConfig, logger: Logger): Promise<MediaBus> => {
        if (!config.redisUrl) return new InProcessMediaBus();
        // Processes sharing DATABASE_URL and REDIS_URL are one service; the database names it.
        return RedisMediaBus.connect(config.redisUrl, serviceKeyOf(config), logger.child({ component: 'media-bus' }));
      },
    },
    {
      // Closed last, after the node and the cluster stopped using it.
      provide: 'MEDIA_BUS_CLOSER',
      inject: [MEDIA_BUS],
      useFactory: (bus: MediaBus) => ({ onApplicationShutdown: () => bus.close() }),
    },
    MediaCluster,
  ],
  exports: [MEDIA_BUS, MediaCluster],
})
export class MediaClusterModule {}

/**
 * This process as a media node: mediasoup workers, the rooms on them, and
 * the room API served to the gateways. Only in NODE_ROLE=all and media.
 */
@Module({})
export class MediaNodeModule {
  static register(): DynamicModule {
    return {
      module: MediaNodeModule,
      imports: [MediaClusterModule],
      providers: [WorkerPool, MediaService, MediaNodeHost],
      exports: [WorkerPool, MediaService, MediaNodeHost],
    };
  }
}
