import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { AppConfig, Clock, ConfigModule } from '@app/config';
import { DatabaseModule } from '@app/database';
import { MediaNodeModule } from '@app/media';
import { MediaRoutingModule } from '@app/media-routing';
import { Logger, ObservabilityModule } from '@app/observability';
import { RateLimitsModule } from '@app/rate-limits';
import { RealtimeModule } from '@app/realtime';
import { CallsApiModule } from './calls/calls-api.module';
import { DemoApiModule } from './demo/demo-api.module';
import { DocsApiModule } from './docs/docs-api.module';
import { HttpAccessMiddleware } from './common/http-access.middleware';
import { AuthController } from './core/auth.controller';
import { ConnectionGateway } from './core/connection.gateway';
import { HealthController } from './core/health.controller';
import { FlagsApiModule } from './flags/flags-api.module';
import { MediaApiModule } from './media/media-api.module';
import { MessagingApiModule } from './messaging/messaging-api.module';

@Module({})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpAccessMiddleware).forRoutes('*path');
  }

  /**
   * What the process does follows NODE_ROLE: `gateway` serves clients (HTTP,
   * sockets, every capability) and routes media requests to the media
   * nodes; `media` is a media node only (mediasoup workers and rooms, with
   * /health and /metrics); `all` is both in one process.
   */
  static forRoot(config: AppConfig, clock: Clock, logger: Logger): DynamicModule {
    const cluster = [ConfigModule.forRoot(config, clock), ObservabilityModule.forRoot(logger), MediaRoutingModule];
    const mediaNode = config.role === 'gateway' ? [] : [MediaNodeModule.register()];
    if (config.role === 'media') {
      return { module: AppModule, imports: [...cluster, ...mediaNode], controllers: [HealthController] };
    }
    return {
      module: AppModule,
      imports: [
        // Cross-cutting, global: configuration, logs and metrics, the database.
        ...cluster,
        DatabaseModule,
        // Cross-cutting: every socket handler's events are counted against rate limits.
        RateLimitsModule,
        ...mediaNode,
        // What the core handlers below use (login, socket life, health).
        AuthModule,
        RealtimeModule,
        // One module per capability's HTTP and socket handlers; each imports its domain module.
        MessagingApiModule,
        CallsApiModule,
        MediaApiModule,
        FlagsApiModule,
        DemoApiModule,
        DocsApiModule,
      ],
      controllers: [AuthController, HealthController],
      providers: [ConnectionGateway],
    };
  }
}
