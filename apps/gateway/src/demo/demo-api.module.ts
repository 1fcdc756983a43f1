import { Module } from '@nestjs/common';
import { DemoBundle } from './demo-bundle';
import { DemoController } from './demo.controller';

/** The browser client served at /demo. */
@Module({ controllers: [DemoController], providers: [DemoBundle] })
export class DemoApiModule {}
