import { Controller, Get, UseGuards } from '@nestjs/common';
import { AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import type { EvaluatedFlags } from '@app/contracts';
import { FlagsService } from '@app/flags';

@Controller('flags')
@UseGuards(UserAuthGuard)
export class FlagsController {
  constructor(private readonly flags: FlagsService) {}

  /** Every flag evaluated for the caller. */
  @Get()
  async mine(@CurrentUser() user: AuthUser): Promise<{ flags: EvaluatedFlags }> {
    return { flags: (await this.flags.evaluateAll(user.id, 'flags')) as EvaluatedFlags };
  }
}
