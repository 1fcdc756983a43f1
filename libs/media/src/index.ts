export * from './media.module';
export * from './worker-pool';
export * from './media.service';
export * from './media-room';
export * from './media-stats';
export * from './media-codecs';
export * from './media-node.host';
/*
 * Routing (bus, cluster, the typed node client, the plain-RTP policy) is
 * @app/media-routing's; re-exported here only until every importer names it there.
 */
export {
  MEDIA_BUS,
  MediaCluster,
  MediaClusterModule,
  MediaNodeUnreachable,
  PlainRtpPolicy,
  InProcessMediaBus,
  RedisMediaBus,
} from '@app/media-routing';
export type { MediaBus, MediaNodeEvent, MediaNodeStatus, MediaRequest } from '@app/media-routing';
