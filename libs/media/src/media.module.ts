import { Global, Module } from '@nestjs/common';
import { MediaService } from './media.service';
import { WorkerPool } from './worker-pool';

@Global()
@Module({ providers: [WorkerPool, MediaService], exports: [WorkerPool, MediaService] })
export class MediaModule {}
