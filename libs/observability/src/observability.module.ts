import { DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { DrainState } from './drain-state';
import { MetricsService } from './metrics.service';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: ObservabilityModule,
      providers: [MetricsService, DrainState, { provide: ROOT_LOGGER, useValue: logger }],
      exports: [MetricsService, DrainState, ROOT_LOGGER],
    };
  }
}
