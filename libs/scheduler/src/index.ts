export * from './scheduler.module';
export * from './durable-scheduler';
export { jobIdFor } from './job-id';
