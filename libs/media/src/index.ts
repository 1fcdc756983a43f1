export * from './media.module';
export * from './worker-pool';
export * from './media.service';
export * from './media-room';
export * from './media-stats';
export * from './media-codecs';
export * from './media-node.host';
