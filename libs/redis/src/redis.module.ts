import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { RedisConnections } from './redis-connections';

/**
 * The process's Redis connections (RedisConnections), for every module.
 * Closed by whoever stops the application, after app.close(): the sockets,
 * the socket cap's places and the media bus still use them while Nest shuts
 * its modules down.
 */
@Global()
@Module({
  providers: [
    {
      provide: RedisConnections,
      inject: [APP_CONFIG, ROOT_LOGGER],
      useFactory: (config: AppConfig, logger: Logger) => new RedisConnections(config.redisUrl, logger.child({ component: 'redis' })),
    },
  ],
  exports: [RedisConnections],
})
export class RedisModule {}
