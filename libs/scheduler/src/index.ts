export * from './scheduler.module';
