export * from './event-rate-rules';
export * from './rate-limiter.service';
export * from './rate-limits.module';
