import { Module } from '@nestjs/common';
import { DemoBundle } from './demo-bundle';
import { DemoController } from './demo.controller';

/** The browser client (apps/demo, as built into dist/demo) served at /demo. */
@Module({ controllers: [DemoController], providers: [DemoBundle] })
export class DemoApiModule {}
