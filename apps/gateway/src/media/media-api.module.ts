import { Module } from '@nestjs/common';

/** Socket handlers of the media capability (media:* events). */
@Module({ controllers: [], providers: [] })
export class MediaApiModule {}
