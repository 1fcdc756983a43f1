import { Body, Controller, Delete, Get, Param, Put, Query, UseGuards } from '@nestjs/common';
import { AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import { schemas } from '@app/contracts';
import { ContactsService } from '@app/relationships';
import { ZodPipe } from '../common/zod.pipe';

@Controller('contacts')
@UseGuards(UserAuthGuard)
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Get()
  list(@CurrentUser() user: AuthUser, @Query(new ZodPipe(schemas.pageQuery, 'query')) query: schemas.PageQuery) {
    return this.contacts.list(user.id, query);
  }

  @Put(':userId')
  put(
    @CurrentUser() user: AuthUser,
    @Param('userId', new ZodPipe(schemas.userIdParam, 'userId')) userId: string,
    @Body(new ZodPipe(schemas.contactPutRequest, 'body')) body: schemas.ContactPutBody,
  ) {
    return this.contacts.put(user.id, userId, body.favorite);
  }

  @Delete(':userId')
  async remove(@CurrentUser() user: AuthUser, @Param('userId', new ZodPipe(schemas.userIdParam, 'userId')) userId: string) {
    await this.contacts.remove(user.id, userId);
    return {};
  }
}
