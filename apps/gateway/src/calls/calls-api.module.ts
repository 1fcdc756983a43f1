import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { CallsModule } from '@app/calls';
import { CallsController } from './calls.controller';
import { CallsGateway } from './calls.gateway';

/** HTTP controllers and socket handlers of the calls capability. */
@Module({ imports: [AuthModule, CallsModule], controllers: [CallsController], providers: [CallsGateway] })
export class CallsApiModule {}
