import { Module } from '@nestjs/common';
import { CallsModule } from '@app/calls';

/** HTTP controllers and socket handlers of the calls capability. */
@Module({ imports: [CallsModule], controllers: [], providers: [] })
export class CallsApiModule {}
