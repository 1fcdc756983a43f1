import { Module } from '@nestjs/common';
import { AuthModule } from '@app/auth';
import { CallAttemptRepository } from './call-attempt.repository';
import { ExperimentLog } from './experiment-log';
import { ExposureRecorder } from './exposure-recorder';
import { ExposureRepository } from './exposure.repository';
import { FlagAdminService } from './flag-admin.service';
import { FlagDefinitionCache } from './flag-definition.cache';
import { FlagExperimentService } from './flag-experiment.service';
import { FlagReportRepository } from './flag-report.repository';
import { FlagRepository } from './flag.repository';
import { FlagsService } from './flags.service';

@Module({
  // The admin service checks that a flag's target users exist.
  imports: [AuthModule],
  providers: [
    FlagsService,
    FlagAdminService,
    FlagRepository,
    FlagDefinitionCache,
    ExposureRepository,
    ExposureRecorder,
    CallAttemptRepository,
    ExperimentLog,
    FlagReportRepository,
    FlagExperimentService,
  ],
  exports: [FlagsService, FlagAdminService, ExperimentLog, ExposureRecorder, FlagExperimentService],
})
export class FlagsModule {}
