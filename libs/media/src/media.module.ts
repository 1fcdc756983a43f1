import { Module } from '@nestjs/common';
import { FlagsModule } from '@app/flags';
import { RealtimeModule } from '@app/realtime';
import { MediaService } from './media.service';
import { WorkerPool } from './worker-pool';

@Module({
  imports: [RealtimeModule, FlagsModule],
  providers: [WorkerPool, MediaService],
  exports: [WorkerPool, MediaService],
})
export class MediaModule {}
