import { Module } from '@nestjs/common';

/** HTTP controllers and socket handlers of the calls capability. */
@Module({ controllers: [], providers: [] })
export class CallsApiModule {}
