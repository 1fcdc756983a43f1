import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { FlagAdminService } from './flag-admin.service';
import { FlagDefinitionCache } from './flag-definition.cache';
import { FlagRepository } from './flag.repository';
import { FlagsService } from './flags.service';

@Module({
  // The admin service checks that a flag's target users exist.
  imports: [AuthModule],
  providers: [FlagsService, FlagAdminService, FlagRepository, FlagDefinitionCache],
  exports: [FlagsService, FlagAdminService],
})
export class FlagsModule {}
