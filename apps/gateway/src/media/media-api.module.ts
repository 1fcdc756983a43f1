import { Module } from '@nestjs/common';
import { MediaModule } from '@app/media';
import { MediaGateway } from './media.gateway';

/** Socket handlers of the media capability (media:* events). */
@Module({ imports: [MediaModule], providers: [MediaGateway] })
export class MediaApiModule {}
