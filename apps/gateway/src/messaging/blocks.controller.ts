import { Controller, Delete, Get, Param, Put, Query, UseGuards } from '@nestjs/common';
import { AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import { schemas } from '@app/contracts';
import { RelationshipService } from '@app/relationships';
import { ZodPipe } from '../common/zod.pipe';

@Controller('blocks')
@UseGuards(UserAuthGuard)
export class BlocksController {
  constructor(private readonly relationships: RelationshipService) {}

  @Get()
  async list(@CurrentUser() user: AuthUser, @Query(new ZodPipe(schemas.pageQuery, 'query')) query: schemas.PageQuery) {
    return this.relationships.listBlocked(user.id, query);
  }

  @Put(':userId')
  async block(@CurrentUser() user: AuthUser, @Param('userId', new ZodPipe(schemas.userIdParam, 'userId')) userId: string) {
    await this.relationships.block(user.id, userId);
    return {};
  }

  @Delete(':userId')
  async unblock(@CurrentUser() user: AuthUser, @Param('userId', new ZodPipe(schemas.userIdParam, 'userId')) userId: string) {
    await this.relationships.unblock(user.id, userId);
    return {};
  }
}
