import { Body, Controller, Get, Headers, Param, Put, Query, UseGuards } from '@nestjs/common';
import { AdminAuthGuard } from '@app/auth';
import { FlagAuditEntryDto, FlagDefinitionDto, schemas } from '@app/contracts';
import { FlagAdminService, toFlagAuditEntryDto, toFlagDefinitionDto } from '@app/flags';
import { ZodPipe } from '../common/zod.pipe';

@Controller('admin/flags')
@UseGuards(AdminAuthGuard)
export class AdminFlagsController {
  constructor(private readonly admin: FlagAdminService) {}

  @Get()
  async list(): Promise<{ flags: FlagDefinitionDto[] }> {
    return { flags: (await this.admin.list()).map(toFlagDefinitionDto) };
  }

  /** Changes a flag, creating it (off, 0 %) when the key is new. */
  @Put(':key')
  async change(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Body(new ZodPipe(schemas.adminFlagPutRequest, 'body')) body: schemas.AdminFlagPutBody,
    @Headers('x-admin-actor') actor: string | undefined,
  ): Promise<FlagDefinitionDto> {
    const name = schemas.adminActorHeader.parse(actor);
    return toFlagDefinitionDto(await this.admin.change(key, body, name ? `admin:${name}` : 'admin'));
  }

  /** Newest first. */
  @Get(':key/audit')
  async audit(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Query(new ZodPipe(schemas.flagAuditQuery, 'query')) query: { limit: number },
  ): Promise<{ entries: FlagAuditEntryDto[] }> {
    return { entries: (await this.admin.audit(key, query.limit)).map(toFlagAuditEntryDto) };
  }
}
