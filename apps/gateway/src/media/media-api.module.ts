import { Module } from '@nestjs/common';
import { CallsModule } from '@app/calls';
import { MediaGateway } from './media.gateway';

/** Socket handlers of the media capability (media:* events). */
@Module({ imports: [CallsModule], providers: [MediaGateway] })
export class MediaApiModule {}
