export * from './media.module';
export * from './worker-pool';
export * from './media.service';
