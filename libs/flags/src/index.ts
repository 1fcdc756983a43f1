export * from './flag-evaluator';
export * from './flags.module';
export * from './flags.service';
