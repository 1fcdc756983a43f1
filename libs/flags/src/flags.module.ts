import { Global, Module } from '@nestjs/common';
import { FlagAdminService } from './flag-admin.service';
import { FlagChangeFeed } from './flag-change-feed';
import { FlagDefinitionCache } from './flag-definition.cache';
import { FlagRepository } from './flag.repository';
import { FlagsService } from './flags.service';

@Global()
@Module({
  providers: [FlagsService, FlagAdminService, FlagRepository, FlagDefinitionCache, FlagChangeFeed],
  exports: [FlagsService, FlagAdminService],
})
export class FlagsModule {}
