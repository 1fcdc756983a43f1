import { Module } from '@nestjs/common';

/** HTTP controllers and socket handlers of the messaging capability. */
@Module({ controllers: [], providers: [] })
export class MessagingApiModule {}
