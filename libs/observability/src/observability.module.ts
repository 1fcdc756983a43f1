import { DynamicModule, Global, MiddlewareConsumer, Module, NestModule, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { ConnectionStates } from './connection-states';
import { DrainState } from './drain-state';
import { HttpTracingMiddleware } from './http-tracing.middleware';
import { MetricsService } from './metrics.service';
import { flushTracing, startTracingFromEnv } from './tracing';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

@Global()
@Module({})
export class ObservabilityModule implements NestModule, OnApplicationShutdown {
  /**
   * Metrics, drain state, connection states and the root logger for every
   * module; tracing starts here when OTEL_EXPORTER_OTLP_ENDPOINT is set.
   */
  static forRoot(logger: Logger): DynamicModule {
    if (startTracingFromEnv())
      logger.info(
        { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT },
        'tracing on: spans exported over OTLP/HTTP',
      );
    return {
      module: ObservabilityModule,
      providers: [MetricsService, DrainState, ConnectionStates, { provide: ROOT_LOGGER, useValue: logger }],
      exports: [MetricsService, DrainState, ConnectionStates, ROOT_LOGGER],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpTracingMiddleware).forRoutes('*path');
  }

  /** Spans still batched leave before the process does. */
  async onApplicationShutdown(): Promise<void> {
    await flushTracing().catch(() => undefined);
  }
}
