import { Body, Controller, Get, Headers, Param, Put, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminAuthGuard } from '@app/auth';
import { FlagAuditEntryDto, FlagDefinitionDto, schemas } from '@app/contracts';
import { FlagAdminService } from '@app/flags';
import { ZodPipe } from '../common/zod.pipe';
import { toFlagAuditEntryDto, toFlagDefinitionDto } from './flag-dto';

// Unknown fields are refused rather than ignored: a typo must not look like a successful change.
const putBody = schemas.adminFlagPutBody.strict();

const auditQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(500).optional() })
  .passthrough()
  .transform((q) => ({ limit: q.limit ?? 100 }));

// Who made a change, for the audit trail; an operator may name themselves.
const actorHeader = z
  .string()
  .trim()
  .regex(/^[\x21-\x7e][\x20-\x7e]{0,63}$/)
  .optional()
  .catch(undefined);

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
    @Body(new ZodPipe(putBody, 'body')) body: schemas.AdminFlagPutBody,
    @Headers('x-admin-actor') actor: string | undefined,
  ): Promise<FlagDefinitionDto> {
    const name = actorHeader.parse(actor);
    return toFlagDefinitionDto(await this.admin.change(key, body, name ? `admin:${name}` : 'admin'));
  }

  /** Newest first. */
  @Get(':key/audit')
  async audit(
    @Param('key', new ZodPipe(schemas.flagKeyParam, 'key')) key: string,
    @Query(new ZodPipe(auditQuery, 'query')) query: { limit: number },
  ): Promise<{ entries: FlagAuditEntryDto[] }> {
    return { entries: (await this.admin.audit(key, query.limit)).map(toFlagAuditEntryDto) };
  }
}
