import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { FlagsModule } from '@app/flags';
import { AdminFlagsController } from './admin-flags.controller';
import { FlagsController } from './flags.controller';
import { FlagsPushGateway } from './flags-push.gateway';

/** HTTP controllers (/flags, /admin/flags) and live flag push of the flags capability. */
@Module({
  imports: [AuthModule, FlagsModule],
  controllers: [FlagsController, AdminFlagsController],
  providers: [FlagsPushGateway],
})
export class FlagsApiModule {}
