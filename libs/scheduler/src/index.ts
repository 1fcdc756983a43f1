export * from './scheduler.module';
export * from './durable-scheduler';
export * from './timer-rows';
export { jobIdFor } from './job-id';
