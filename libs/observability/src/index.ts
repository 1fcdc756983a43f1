export * from './drain-state';
export * from './logger';
export * from './metrics.service';
export * from './observability.module';
export * from './request-context';
export type { Logger } from 'pino';
