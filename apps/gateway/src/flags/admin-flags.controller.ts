import { Body, Controller, Get, Param, Put, Query, UseGuards } from '@nestjs/common';
import { AdminActor, AdminAuthGuard } from '@app/auth';
import { ExposureDto, FlagAuditEntryDto, FlagDefinitionDto, FlagReportDto, schemas } from '@app/contracts';
import {
  FlagAdminService,
  FlagExperimentService,
  toExposureDto,
  toFlagAuditEntryDto,
  toFlagDefinitionDto,
  toFlagReportDto,
} from '@app/flags';
import { ZodPipe } from '../common/zod.pipe';

@Controller('admin/flags')
@UseGuards(AdminAuthGuard)
export class AdminFlagsController {
  constructor(
    private readonly admin: FlagAdminService,
    private readonly experiments: FlagExperimentService,
  ) {}

  @Get()
  async list(): Promise<{ flags: FlagDefinitionDto[] }> {
    return { flags: (await this.admin.list()).map(toFlagDefinitionDto) };
  }

  /** Changes a flag, creating it (off, 0 %) when the key is new. */
  @Put(':key')
  async change(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Body(new ZodPipe(schemas.adminFlagPutRequest, 'body')) body: schemas.AdminFlagPutBody,
    @AdminActor() actor: string,
  ): Promise<FlagDefinitionDto> {
    // The audit names the admin token that authenticated the change, never text the caller chose.
    return toFlagDefinitionDto(await this.admin.change(key, body, actor));
  }

  /** Newest first. */
  @Get(':key/audit')
  async audit(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Query(new ZodPipe(schemas.flagAuditQuery, 'query')) query: { limit: number },
  ): Promise<{ entries: FlagAuditEntryDto[] }> {
    return { entries: (await this.admin.audit(key, query.limit)).map(toFlagAuditEntryDto) };
  }

  /** Who saw which value: one entry per user and value, by user. */
  @Get(':key/exposures')
  async exposures(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Query(new ZodPipe(schemas.exposuresQuery, 'query')) query: schemas.ExposuresQuery,
  ): Promise<{ exposures: ExposureDto[]; nextCursor: string | null }> {
    const page = await this.experiments.exposurePage(key, query);
    return { exposures: page.exposures.map(toExposureDto), nextCursor: page.nextCursor };
  }

  /** The experiment per variant, since a time or from the start. */
  @Get(':key/report')
  async report(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Query(new ZodPipe(schemas.flagReportQuery, 'query')) query: schemas.FlagReportQuery,
  ): Promise<FlagReportDto> {
    return toFlagReportDto(await this.experiments.report(key, query.since ? new Date(query.since) : null));
  }
}
