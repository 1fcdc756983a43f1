import { Module } from '@nestjs/common';

/** The browser client served at /demo. */
@Module({ controllers: [], providers: [] })
export class DemoApiModule {}
