import { Module } from '@nestjs/common';
import { MessagingModule } from '@app/messaging';

/** HTTP controllers and socket handlers of the messaging capability. */
@Module({ imports: [MessagingModule], controllers: [], providers: [] })
export class MessagingApiModule {}
