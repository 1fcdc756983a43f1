export * from './drain-state';
export * from './logger';
export * from './metrics.service';
export * from './observability.module';
export type { Logger } from 'pino';
