export * from './connection-states';
export * from './drain-state';
export * from './http-tracing.middleware';
export * from './logger';
export * from './metrics.service';
export * from './observability.module';
export * from './request-context';
export * from './tracing';
export type { Logger } from 'pino';
