import { Global, Module } from '@nestjs/common';
import { FlagAdminService } from './flag-admin.service';
import { FlagDefinitionCache } from './flag-definition.cache';
import { FlagRepository } from './flag.repository';
import { FlagsService } from './flags.service';

@Global()
@Module({
  providers: [FlagsService, FlagAdminService, FlagRepository, FlagDefinitionCache],
  exports: [FlagsService, FlagAdminService],
})
export class FlagsModule {}
