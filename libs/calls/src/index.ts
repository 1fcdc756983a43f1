export * from './calls.module';
