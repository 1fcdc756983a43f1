import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import { CallsService, toCallDto } from '@app/calls';
import { schemas } from '@app/contracts';
import { ZodPipe } from '../common/zod.pipe';

@Controller('calls')
@UseGuards(UserAuthGuard)
export class CallsController {
  constructor(private readonly calls: CallsService) {}

  /** GET /calls?limit= : own call history, newest first, with duration, end reason and media statistics. */
  @Get()
  async history(
    @CurrentUser() user: AuthUser,
    @Query(new ZodPipe(schemas.callsQuery, 'query')) query: { limit?: number; cursor?: string },
  ) {
    const page = await this.calls.history(user.id, query);
    return { calls: page.calls.map((c) => toCallDto(c, { withMediaStats: true })), nextCursor: page.nextCursor };
  }
}
