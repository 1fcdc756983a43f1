import { Module } from '@nestjs/common';
import { MediaGateway } from './media.gateway';

/** Socket handlers of the media capability (media:* events). */
@Module({ controllers: [], providers: [MediaGateway] })
export class MediaApiModule {}
