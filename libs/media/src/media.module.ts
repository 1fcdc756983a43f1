import { DynamicModule, Module } from '@nestjs/common';
import { MediaRoutingModule } from '@app/media-routing';
import { MediaNodeHost } from './media-node.host';
import { MediaService } from './media.service';
import { WorkerPool } from './worker-pool';

/**
 * This process as a media node: mediasoup workers, the rooms on them, and
 * the room API (MediaNodeApi) served to the gateways over the media bus.
 * Only in NODE_ROLE=all and media.
 */
@Module({})
export class MediaNodeModule {
  static register(): DynamicModule {
    return {
      module: MediaNodeModule,
      imports: [MediaRoutingModule],
      providers: [WorkerPool, MediaService, MediaNodeHost],
      exports: [WorkerPool, MediaService, MediaNodeHost],
    };
  }
}
